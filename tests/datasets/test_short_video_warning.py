"""A video shorter than one clip is reported by name at WARNING in the chunk log (issue 13, item 7).

The warning belongs where the clip plan is computed, ``datasets/clips.py`` (``_log_plan``), which
another change owns: until that line moves from INFO-with-a-count to WARNING-with-the-names, this test
is an expected failure (strict: it fails loudly once the change lands, so the marker goes with it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_clips import CLIP, make_video

from devcurriculum.datasets.clips import chunk_group
from devcurriculum.datasets.video_index import index_videos


@pytest.mark.xfail(strict=True, reason="needs the WARNING naming short videos in datasets/clips.py _log_plan")
def test_video_shorter_than_one_clip_is_named_at_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    long_video = make_video(tmp_path / "long.mp4", 20)
    short_video = make_video(tmp_path / "short.mp4", CLIP.span)  # one frame short of a clip
    (tmp_path / "m.csv").write_text(f"path,subject,age_days\n{long_video},s1,10\n{short_video},s2,20\n")
    index_videos(manifest=tmp_path / "m.csv", out_path=tmp_path / "videos.parquet", age_groups={"g0": [0, 100]})
    with caplog.at_level(logging.INFO, logger="devcurriculum"):
        n = chunk_group(videos=tmp_path / "videos.parquet", group="g0", clip=CLIP,
                        out_table=tmp_path / "g0.parquet", out_cache=tmp_path / "g0.npy")
    assert n > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(short_video) in w and "shorter than one clip" in w for w in warnings), warnings
    assert not any(str(long_video) in w for w in warnings)
