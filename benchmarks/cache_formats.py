"""Bytes per clip and clips/s per worker of each clip cache format (data.cache.format), in the same run.

Two sizes: the demo's (config.yaml's data.clip, on the rendered demo world) and the seed study's
224 px x 16 frames (frame_step 2), on real egocentric footage (the Ego4D site clips of
``../shared/data/real_videos``; the demo world rendered at 256 px where that folder is absent).
Every video is chunked once per format with the workflow's own chunk_group; then one worker (one
thread) reads random batches of ``--batch`` clips through the training dataset's reader
(GroupCache.read) for ``--seconds`` per format. The files were just written and read, so they sit in
the page cache: the numbers are the CPU cost of a read. A raw clip also costs its full size in disk
or network bandwidth on a cold read; the "MB/s at that rate" column says how much.

    python benchmarks/cache_formats.py
    python benchmarks/cache_formats.py --sizes 224 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from footage import SEED_STUDY_CLIP, demo_config, demo_manifest, seed_study_footage

from devcurriculum.config import CacheConfig, ClipConfig
from devcurriculum.datasets.clip_dataset import GroupCache
from devcurriculum.datasets.clip_store import FORMATS, SUFFIX
from devcurriculum.datasets.clips import chunk_group
from devcurriculum.datasets.video_index import index_videos

GROUPS = {"all": (0.0, 1e9)}


def read_rate(cache: GroupCache, batch: int, seconds: float, seed: int = 0) -> float:
    """Clips per second one thread reads in random batches of ``batch`` (after one warm-up pass)."""
    rng = np.random.default_rng(seed)
    cache.read(np.arange(len(cache)))  # warm the page cache and the maps
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        cache.read(rng.integers(0, len(cache), batch))
        done += batch
    return done / (time.perf_counter() - start)


def measure(label: str, manifest: Path, clip: ClipConfig, work: Path, args: argparse.Namespace) -> None:
    videos = work / "videos.parquet"
    index_videos(manifest=manifest, out_path=videos, age_groups=GROUPS)
    raw_bytes = clip.frames * clip.size * clip.size * 3
    print(f"\n{label}: {clip.frames} frames x {clip.size} px ({raw_bytes:,} bytes of pixels per clip)")
    print(f"{'format':>8} {'clips':>6} {'bytes/clip':>11} {'vs raw':>7} {'clips/s/worker':>15} {'MB/s at that rate':>18}")
    for fmt in FORMATS:
        table, cache_file = work / f"{fmt}.parquet", work / f"{fmt}{SUFFIX[fmt]}"
        n = chunk_group(videos=videos, group="all", clip=clip, out_table=table, out_cache=cache_file,
                        cache=CacheConfig(format=fmt, quality=args.quality))
        per_clip = cache_file.stat().st_size / max(n, 1)
        rate = read_rate(GroupCache(table), args.batch, args.seconds)
        print(f"{fmt:>8} {n:>6} {per_clip:>11,.0f} {raw_bytes / per_clip:>6.1f}x {rate:>15.1f} "
              f"{rate * per_clip / 1e6:>18.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="demo,224", help="comma-separated: demo and/or 224")
    parser.add_argument("--batch", type=int, default=8, help="clips per read")
    parser.add_argument("--seconds", type=float, default=5.0, help="reading time per format")
    parser.add_argument("--quality", type=int, default=CacheConfig().quality, help="JPEG quality")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = demo_config()
    with tempfile.TemporaryDirectory(prefix="cache-formats-") as tmp:
        root = Path(tmp)
        for size in args.sizes.split(","):
            work = root / size
            work.mkdir()
            if size == "demo":
                clip = ClipConfig.from_mapping(cfg["data"]["clip"])
                measure("demo world, config.yaml's data.clip", demo_manifest(work / "demo", cfg["demo"]["size"]), clip,
                        work, args)
            else:
                manifest, label = seed_study_footage(work)
                measure(label, manifest, SEED_STUDY_CLIP, work, args)


if __name__ == "__main__":
    main()
