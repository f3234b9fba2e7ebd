"""Throughput of ``chunk_group`` vs a bare decord sequential decode of the same videos, same run.

The baseline opens each video with decord and calls ``next().asnumpy()`` until the end: the least
a decoder-based pipeline can do. ``chunk_group`` does that plus backend checks, resizing, cache and
table writes, but converts only the frames clips use. Both are timed over the same videos, in
alternation, best of ``--repeats``; throughput is source frames per second.
Target: ratio (chunk_group / bare decode) >= 0.7.

    python benchmarks/chunk_throughput.py                    # real egocentric footage if present
    python benchmarks/chunk_throughput.py --source synthetic --frames 8 --frame-step 2 --stride 8 --size 32
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import av
import decord
import numpy as np
import pyarrow.parquet as pq

from devcurriculum.config import ClipConfig
from devcurriculum.datasets.clips import chunk_group
from devcurriculum.datasets.video_index import index_videos

REAL_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared/data/real_videos"


def synthetic_videos(folder: Path, n_videos: int, n_frames: int, width: int, height: int) -> list[Path]:
    """H.264 videos with moving textured content (so the encoder does real work)."""
    rng = np.random.default_rng(0)
    paths = []
    for v in range(n_videos):
        base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = folder / f"synthetic_{v}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(n_frames):
                img = np.roll(base, shift=(i, 3 * i), axis=(0, 1))
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


def bare_decord(paths: list[Path]) -> int:
    frames = 0
    for path in paths:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        while True:
            try:
                reader.next().asnumpy()
            except StopIteration:
                break
            frames += 1
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["real", "synthetic"], default="real")
    parser.add_argument("--videos", type=int, default=4, help="synthetic videos")
    parser.add_argument("--video-frames", type=int, default=300, help="frames per synthetic video")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--frame-step", type=int, default=2)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip = ClipConfig(frames=args.frames, frame_step=args.frame_step, stride=args.stride, size=args.size)

    with tempfile.TemporaryDirectory(prefix="chunk_bench_") as tmp_name:
        tmp = Path(tmp_name)
        if args.source == "real" and (REAL_VIDEOS / "egocentric").is_dir():
            paths = sorted((REAL_VIDEOS / "egocentric").rglob("*.mp4"))
            source = f"{len(paths)} real egocentric mp4s from {REAL_VIDEOS}"
        else:
            paths = synthetic_videos(tmp, args.videos, args.video_frames, 480, 360)
            source = f"{len(paths)} synthetic 480x360 H.264 videos of {args.video_frames} frames"
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(
                [("path", "subject", "age_days"), *((str(p), f"s{i}", 10) for i, p in enumerate(paths))]
            )
        index_videos(manifest=tmp / "manifest.csv", out_path=tmp / "videos.parquet", age_groups={"g": (0.0, 100.0)})
        videos = pq.read_table(tmp / "videos.parquet").to_pandas()
        if (videos["status"] != "ok").any():
            raise SystemExit(
                f"some benchmark videos failed to index: {videos.loc[videos.status != 'ok', 'error'].tolist()}"
            )
        total = int(videos["n_frames"].sum())

        base_times, chunk_times = [], []
        n_clips = 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            decoded = bare_decord(paths)
            base_times.append(time.perf_counter() - t0)
            if decoded != total:
                raise SystemExit(f"bare decode saw {decoded} frames, the index {total}")
            t0 = time.perf_counter()
            n_clips = chunk_group(
                videos=tmp / "videos.parquet", group="g", clip=clip, out_table=tmp / "g.parquet", out_cache=tmp / "g.npy"
            )
            chunk_times.append(time.perf_counter() - t0)

    base_fps = total / min(base_times)
    chunk_fps = total / min(chunk_times)
    print(f"source: {source}; {total} frames; clip {clip}; {n_clips} clips; best of {args.repeats}")
    print(f"bare decord sequential decode: {base_fps:8.1f} frames/s ({min(base_times):.2f} s)")
    print(f"chunk_group:                   {chunk_fps:8.1f} frames/s ({min(chunk_times):.2f} s)")
    print(f"ratio chunk_group / bare decode: {chunk_fps / base_fps:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
