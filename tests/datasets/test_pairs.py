"""Frame pairs across whole videos (devcurriculum.datasets.pairs): plan, pixels, gaps per fps, short videos."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_clips import make_video

from devcurriculum.config import CacheConfig, PairConfig
from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.datasets.clips import resize_short_side_and_center_crop
from devcurriculum.datasets.pairs import chunk_pair_shard, frames_for, gather_pair_index, pair_plan

SIZE = 16
GAPS = (0.3, 2.0)
#: (frames, fps): two frame rates, and a video shorter than the 2 s gap (20 frames at 10 fps)
VIDEOS = [(60, 10), (80, 25), (12, 10)]


def build(tmp: Path, fmt: str = "raw") -> tuple[ClipCache, list[dict]]:
    videos = []
    for i, (n, fps) in enumerate(VIDEOS):
        path = make_video(tmp / f"v{i}.mp4", n, fps=fps)
        videos.append({"video_index": i, "video_id": f"v{i}", "path": str(path), "subject": f"s{i}",
                       "age_days": 10.0 + i, "n_frames": n, "fps": float(fps)})
    (tmp / "pairs" / "g0").mkdir(parents=True)
    table, cache = tmp / "pairs/g0/shard-0-of-1.parquet", tmp / f"pairs/g0/shard-0-of-1.{'npy' if fmt == 'raw' else 'jpgs'}"
    chunk_pair_shard(videos=videos, group="g0", gaps=GAPS, pairs=PairConfig(anchor_seconds=0.5), size=SIZE,
                     cache=CacheConfig(format=fmt), out_table=table, out_cache=cache)
    gather_pair_index(shard_tables=[table], shard_caches=[cache], group="g0", out_index=tmp / "pairs/g0.parquet")
    return ClipCache(tmp / "pairs", ["g0"]), videos


def decoded(path: str) -> np.ndarray:
    with av.open(path) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return resize_short_side_and_center_crop(frames, SIZE)


def test_gap_frames_per_video_fps() -> None:
    assert frames_for(10, 30.0) == 300
    assert frames_for(10, 25.0) == 250
    assert frames_for(0.3, 30.0) == 9
    assert frames_for(0.3, 25.0) == 8  # 7.5 rounds half up
    assert frames_for(0.01, 10.0) == 1  # never a zero gap
    (_, g30, a30), (_, g25, a25) = pair_plan(600, 30.0, [10.0], 1.0) + pair_plan(600, 25.0, [10.0], 1.0)
    assert (g30, g25) == (300, 250)
    assert a30.tolist() == list(range(0, 300, 30))  # last anchor 299 + 300 = 599 = the last frame
    assert a25.tolist() == list(range(0, 350, 25))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 2000), fps=st.floats(1.0, 120.0), gap=st.floats(0.01, 40.0), anchor=st.floats(0.05, 5.0))
def test_pairs_stay_inside_the_video(n: int, fps: float, gap: float, anchor: float) -> None:
    (gap_s, g, anchors), = pair_plan(n, fps, [gap], anchor)
    assert g == max(1, int(np.floor(gap * fps + 0.5)))
    assert gap_s == gap
    if n - 1 - g < 0:
        assert len(anchors) == 0
    else:
        assert anchors[0] == 0 and anchors[-1] + g <= n - 1 and anchors[-1] + max(1, round(anchor * fps)) + g > n - 1
        assert (np.diff(anchors) == frames_for(anchor, fps)).all()


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_pair_cache_holds_the_two_source_frames(tmp_path: Path, fmt: str) -> None:
    cache, videos = build(tmp_path, fmt)
    table = cache.table
    by_id = {v["video_id"]: v for v in videos}
    fps = table["video_id"].map(lambda v: by_id[v]["fps"])
    n_frames = table["video_id"].map(lambda v: by_id[v]["n_frames"])
    expected_gap = [frames_for(g, f) for g, f in zip(table["gap_seconds"], fps, strict=True)]
    assert table["frame_step"].tolist() == expected_gap
    assert set(table.loc[table["video_id"] == "v0", "frame_step"]) == {3, 20}
    assert set(table.loc[table["video_id"] == "v1", "frame_step"]) == {8, 50}
    assert (table["start_frame"] + table["frame_step"] <= n_frames - 1).all()
    assert table["clip_id"].is_unique
    # every pair's pixels are frames (anchor, anchor + gap) of its own video
    source = {v["video_id"]: decoded(v["path"]) for v in videos}
    pixels = cache.get(np.arange(len(cache)))
    for row, pair in zip(table.itertuples(), pixels, strict=True):
        ref = source[row.video_id].astype(int)
        for k, frame in enumerate((row.start_frame, row.start_frame + row.frame_step)):
            if fmt == "raw":
                np.testing.assert_array_equal(pair[k], ref[frame], err_msg=f"{row.clip_id} frame {k}")
            else:  # lossy: the stored frame is nearest to the right source frame of the right video
                distance = np.abs(ref - pair[k].astype(int)).mean(axis=(1, 2, 3))
                assert int(np.argmin(distance)) == frame, (row.clip_id, k)


def test_short_video_gives_no_pairs_and_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="devcurriculum.datasets.pairs"):
        cache, videos = build(tmp_path)
    short = [r for r in caplog.records if r.levelno == logging.WARNING and videos[2]["path"] in r.getMessage()]
    assert len(short) == 1 and "gap_seconds=2" in short[0].getMessage()
    v2 = cache.table[cache.table["video_id"] == "v2"]
    assert set(v2["gap_seconds"]) == {0.3}  # 12 frames hold 0.3 s pairs but no 2 s pair
    assert len(v2) == 2  # anchors 0, 5 (+3 <= 11)
