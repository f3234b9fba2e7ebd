"""Clips/s one CPU worker delivers through the training data path at 224 px x 16 frames, vs a bare read.

The data path is what the training loop runs per step: CurriculumSampler.batch (prototype-weighted,
10-step buckets, over a pool of ``--pool`` clips) -> ClipCache.get -> make_batch (blur active,
sigma 2, every clip blurred, then normalised to float). The bare read is ClipCache.get of the same
rows, nothing else. Both run in this process on one thread, for each cache format.

Clips: the Ego4D head-camera clips of ../shared/data/real_videos chunked at 224 px x 16 frames (the
demo world at 256 px where that folder is absent). So that the sampler works at corpus scale, its
pool holds ``--pool`` indices that map onto the cached clips modulo their number (reads hit real
pixels; the sampler's cost is that of a 1M-clip pool).

"Workers per GPU" divides a GPU's training throughput by one worker's delivery rate. The default
GPU rate is VideoMAE ViT-B pre-training on Something-Something V2 (Tong et al. 2022): 800 epochs of
its 168,913 training videos in 19.5 h on 64 V100 GPUs, batch 32 per GPU: 30.1 clips/s per GPU, a
step of 1.06 s (docs/performance.md).

    python benchmarks/data_path.py
    python benchmarks/data_path.py --gpu-clips-per-s 90     # e.g. an A100-class GPU
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from footage import SEED_STUDY_CLIP, seed_study_footage

from devcurriculum.config import BlurConfig, CacheConfig, CurriculumConfig
from devcurriculum.curriculum import CurriculumPlan, CurriculumSampler
from devcurriculum.curriculum.blur import BlurSchedule
from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.datasets.clip_store import FORMATS, SUFFIX
from devcurriculum.datasets.clips import chunk_group
from devcurriculum.datasets.video_index import index_videos
from devcurriculum.train.batch import make_batch

#: VideoMAE ViT-B on SSv2: 168,913 videos x 800 epochs / (19.5 h x 64 V100) (Tong et al. 2022)
VIDEOMAE_V100_CLIPS_PER_S = 168_913 * 800 / (19.5 * 3600 * 64)
STEPS_PER_STAGE = 20_000


class PoolOverCache:
    """``get`` of a pool of ``n`` indices mapped onto a smaller cache (index mod its size)."""

    def __init__(self, cache: ClipCache, n: int) -> None:
        self.cache, self.n = cache, n

    def get(self, indices: Sequence[int]) -> np.ndarray:
        return self.cache.get(np.asarray(indices, dtype=np.int64) % len(self.cache))


def build_caches(work: Path) -> tuple[str, dict[str, ClipCache]]:
    manifest, label = seed_study_footage(work)
    videos = work / "videos.parquet"
    index_videos(manifest=manifest, out_path=videos, age_groups={"all": (0.0, 1e9)})
    caches = {}
    for fmt in FORMATS:
        folder = work / fmt
        chunk_group(videos=videos, group="all", clip=SEED_STUDY_CLIP, out_table=folder / "all.parquet",
                    out_cache=folder / f"all{SUFFIX[fmt]}", cache=CacheConfig(format=fmt))
        caches[fmt] = ClipCache(folder, ["all"])
    return label, caches


def make_sampler(pool: int, batch: int) -> CurriculumSampler:
    weighting = {"kind": "prototypes_first", "initial_fraction": 0.2, "warmup_fraction": 0.5}
    curriculum = CurriculumConfig.from_mapping({"order": "mixed", "weighting": weighting})
    plan = CurriculumPlan.from_config(name="bench", curriculum=curriculum, groups=["all"], steps_per_stage=STEPS_PER_STAGE)
    difficulty = np.random.default_rng(0).random(pool)
    return CurriculumSampler(plan, {"all": np.arange(pool)}, batch_size=batch, seed=0, difficulty=difficulty,
                             bucket_steps=10)


def rate(step_fn: Callable[[int], object], batch: int, seconds: float) -> float:
    step_fn(0)  # warm up (first bucket, page cache)
    done, step, start = 0, 1, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step_fn(step)
        done += batch
        step += 1
    return done / (time.perf_counter() - start)


def measure_paths(source: PoolOverCache, args: argparse.Namespace, blur: BlurSchedule) -> tuple[float, float, float]:
    """clips/s of the bare read, the data path without blur, and with blur (each with its own sampler)."""
    rows = [make_sampler(args.pool, args.batch).batch(s) for s in range(2000)]  # the path's first rows

    def bare(step: int) -> object:
        return source.get(rows[step % len(rows)])

    def data_path(with_blur: BlurSchedule | None) -> Callable[[int], object]:
        sampler = make_sampler(args.pool, args.batch)
        return lambda step: make_batch(source, sampler.batch(step), step, blur=with_blur, seed=0, rank=0, world_size=1)

    return (rate(bare, args.batch, args.seconds), rate(data_path(None), args.batch, args.seconds),
            rate(data_path(blur), args.batch, args.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8, help="clips per step per worker")
    parser.add_argument("--pool", type=int, default=1_000_000, help="curriculum pool size")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per measurement")
    parser.add_argument("--gpu-clips-per-s", type=float, default=VIDEOMAE_V100_CLIPS_PER_S,
                        help="training throughput of one GPU (default: VideoMAE ViT-B on a V100, cited above)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    blur = BlurSchedule.from_config(BlurConfig(variant="fixed", sigma=2.0, until_fraction=1.0), STEPS_PER_STAGE)
    with tempfile.TemporaryDirectory(prefix="data-path-") as tmp:
        label, caches = build_caches(Path(tmp))
        print(f"{label}; {SEED_STUDY_CLIP.frames} frames x {SEED_STUDY_CLIP.size} px; batch {args.batch}; pool "
              f"{args.pool:,}; one thread; GPU at {args.gpu_clips_per_s:.1f} clips/s")
        print("clips/s per worker: bare read | data path without blur (sampler + read + normalise) | with blur "
              "(sigma 2, every clip); workers per GPU for each path")
        print(f"{'format':>7} {'bare':>8} {'path':>8} {'path+blur':>10} {'path/bare':>10} {'blur/bare':>10} "
              f"{'workers':>8} {'w. blur':>8}")
        for fmt, cache in caches.items():
            source = PoolOverCache(cache, args.pool)
            bare_rate, path_rate, blur_rate = measure_paths(source, args, blur)
            print(f"{fmt:>7} {bare_rate:>8.1f} {path_rate:>8.1f} {blur_rate:>10.1f} {path_rate / bare_rate:>10.3f} "
                  f"{blur_rate / bare_rate:>10.3f} {math.ceil(args.gpu_clips_per_s / path_rate):>8d} "
                  f"{math.ceil(args.gpu_clips_per_s / blur_rate):>8d}", flush=True)


if __name__ == "__main__":
    main()
