"""A manifest video fixed in place is re-indexed (issue 13, item 7).

Snakemake sees only the manifest as ``index_videos``' input; ``manifest_videos_fingerprint``
(rules/common.smk; size + mtime of every listed video), a params value of the rule, makes a
repaired video re-run it (and then only the chunk shard holding that video: its file is an input).
"""

from __future__ import annotations

import os
from pathlib import Path

from wfutil import dry_run_jobs, snakemake, write_config


def tiny_video(path: Path, n: int = 4) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_a_video_fixed_in_place_reruns_index_videos(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    tiny_video(videos / "a.mp4")  # one usable video: a manifest without any is refused (issue 25, item 7)
    (videos / "b.mp4").write_bytes(b"not a video yet")
    (videos / "manifest.csv").write_text("path,subject,age_days\na.mp4,s1,30\nb.mp4,s2,150\n")
    write_config(tmp_path, {"data.source": "manifest", "data.manifest": "videos/manifest.csv"})
    snakemake(tmp_path, "--until", "index_videos")  # b.mp4 recorded as status=error
    assert ("index_videos", {}) not in dry_run_jobs(tmp_path)

    (videos / "b.mp4").write_bytes(b"a repaired video, same path")
    st = (videos / "b.mp4").stat()
    os.utime(videos / "b.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "index_videos" in {rule for rule, _ in dry_run_jobs(tmp_path)}
