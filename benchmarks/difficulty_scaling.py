"""Wall time and peak memory of score_difficulty (auto k) vs the reference procedure, same features.

Features: a synthetic Gaussian mixture in D = 384 (DINO ViT-S width), z-scored and L2-normalised
once up front so that both procedures cluster identical inputs. The reference procedure fits
k-means for every k of the range (KMeans(n_init=10) up to N = 10,000, MiniBatchKMeans above, the
same rule as ours) and scores the Davies-Bouldin index on ALL samples; ours scores it on a seeded
subsample of ``--db-subsample`` points, reuses the chosen fit instead of refitting, and also
computes distances and the per-cluster min-max. Peak memory is tracemalloc's peak of Python/numpy
allocations during each call.

    python benchmarks/difficulty_scaling.py --sizes 10000,100000          # small
    python benchmarks/difficulty_scaling.py                               # 10k, 100k, 1M (long)
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import davies_bouldin_score

from devcurriculum.difficulty import score_difficulty
from devcurriculum.difficulty.scoring import FULL_KMEANS_MAX_N, normalize_features


def mixture(n: int, dim: int, components: int, seed: int) -> np.ndarray:
    """float32 Gaussian mixture with unequal component sizes and spreads."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, dim)).astype(np.float32) * 3.0
    sizes = rng.dirichlet(np.full(components, 2.0))
    labels = rng.choice(components, size=n, p=sizes)
    spread = rng.uniform(0.5, 1.5, components).astype(np.float32)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spread[labels, None]
    x += centres[labels]
    return x


def reference_choice(x: np.ndarray, k_range: tuple[int, int], seed: int = 42) -> int:
    """Fit every k, Davies-Bouldin on all samples, lowest wins."""
    n = len(x)
    scores = []
    for k in range(k_range[0], k_range[1] + 1):
        if n <= FULL_KMEANS_MAX_N:
            model = KMeans(n_clusters=k, n_init=10, random_state=seed)
        else:
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=min(1024, n // 10))
        labels = model.fit_predict(x)
        scores.append(davies_bouldin_score(x, labels))
    return k_range[0] + int(np.argmin(scores))


def measure(fn: Callable[[], int]) -> tuple[float, float, int]:
    tracemalloc.start()
    t0 = time.perf_counter()
    k = fn()
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, peak / 2**20, k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--k-range", default="2,20", help="inclusive k_min,k_max")
    parser.add_argument("--db-subsample", type=int, default=20_000)
    args = parser.parse_args()
    k_min, k_max = (int(v) for v in args.k_range.split(","))

    print(f"D = {args.dim}, {args.components} mixture components, k in [{k_min}, {k_max}], "
          f"db_subsample = {args.db_subsample}", flush=True)
    print(f"{'N':>10} {'ours s':>9} {'ref s':>9} {'speed-up':>9} {'ours MiB':>9} {'ref MiB':>9} {'k ours':>7} {'k ref':>6}",
          flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        x = normalize_features(mixture(n, args.dim, args.components, seed=n))
        ours = measure(lambda x=x: score_difficulty(x, k_range=(k_min, k_max), normalize=False, db_subsample=args.db_subsample).k)
        ref = measure(lambda x=x: reference_choice(x, (k_min, k_max)))
        print(f"{n:>10,} {ours[0]:>9.2f} {ref[0]:>9.2f} {ref[0] / ours[0]:>8.2f}x {ours[1]:>9.1f} {ref[1]:>9.1f} "
              f"{ours[2]:>7d} {ref[2]:>6d}", flush=True)


if __name__ == "__main__":
    main()
