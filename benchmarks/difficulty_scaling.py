"""Wall time of score_difficulty (auto k) per backend vs the reference procedure, same features, same run.

Features: a synthetic Gaussian mixture in D = 384 (DINO ViT-S width), z-scored and L2-normalised
once up front so that every procedure clusters identical inputs. The reference procedure fits
k-means for every k of the range (KMeans(n_init=10) up to N = 10,000, MiniBatchKMeans above, the
same rule as our sklearn backend) and scores the Davies-Bouldin index on ALL samples; ours scores
it on a seeded subsample of ``--db-subsample`` points, reuses the chosen fit instead of refitting,
and also computes distances and the per-cluster min-max (the whole difficulty, not just k).

Quality at the chosen k: the "exact" difficulty is full-batch k-means (sklearn KMeans, Lloyd to
convergence, k-means++ init, the best of EXACT_N_INIT initialisations by inertia, seed 42) on all N
samples at the reference's k, distance to the assigned centre, min-max within each cluster.
Printed: Spearman rank correlation of each backend's difficulty with it (and of the reference's own
MiniBatchKMeans difficulty at that k, for scale). Because the features are a known mixture, every
clustering is also scored against the components that generated it (adjusted Rand index): where a
backend and the reference choose different k, that says which of them found the mixture.

Each size runs on ``--mixture-seeds`` inputs (mixture seed = N + offset; offset 0 is the input of
the earliest runs). Peak memory is tracemalloc's peak of Python/numpy allocations during each call
(faiss's C++ buffers are not traced).

    python benchmarks/difficulty_scaling.py --sizes 10000,100000                  # small
    OMP_NUM_THREADS=2 python benchmarks/difficulty_scaling.py --sizes 1000000     # the issue's target
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from scipy.stats import spearmanr
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score

from devcurriculum.difficulty import score_difficulty
from devcurriculum.difficulty.scoring import FULL_KMEANS_MAX_N, center_distances, minmax_within, normalize_features

#: Initialisations of the "exact" full-batch k-means (best inertia wins). One was not enough: at
#: N = 1M, k = 8 a single KMeans merged a 0.3 % component and split the largest (ARI 0.78).
EXACT_N_INIT = 5


def mixture_with_components(n: int, dim: int, components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 Gaussian mixture with unequal component sizes and spreads, and each sample's component."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, dim)).astype(np.float32) * 3.0
    sizes = rng.dirichlet(np.full(components, 2.0))
    labels = rng.choice(components, size=n, p=sizes)
    spread = rng.uniform(0.5, 1.5, components).astype(np.float32)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spread[labels, None]
    x += centres[labels]
    return x, labels


def mixture(n: int, dim: int, components: int, seed: int) -> np.ndarray:
    return mixture_with_components(n, dim, components, seed)[0]


def _reference_model(n: int, k: int, seed: int) -> KMeans | MiniBatchKMeans:
    if n <= FULL_KMEANS_MAX_N:
        return KMeans(n_clusters=k, n_init=10, random_state=seed)
    return MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=min(1024, n // 10))


def reference_choice(
    x: np.ndarray, k_range: tuple[int, int], seed: int = 42
) -> tuple[int, np.ndarray, dict[int, float], np.ndarray]:
    """Fit every k, Davies-Bouldin on all samples, lowest wins; returns k, the difficulty of that fit,
    DB per k and the fit's labels."""
    best: tuple[float, int, np.ndarray, np.ndarray] | None = None
    scores: dict[int, float] = {}
    for k in range(k_range[0], k_range[1] + 1):
        model = _reference_model(len(x), k, seed)
        labels = model.fit_predict(x)
        db = davies_bouldin_score(x, labels)
        scores[k] = float(db)
        if best is None or db < best[0]:
            best = (db, k, labels, model.cluster_centers_)
    assert best is not None
    _, k, labels, centers = best
    return k, minmax_within(center_distances(x, labels, centers), labels), scores, labels


def exact_difficulty(x: np.ndarray, k: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch k-means at ``k`` on every sample (best of EXACT_N_INIT), then distance-to-centre
    min-max within clusters; returns the difficulty and the labels."""
    model = KMeans(n_clusters=k, n_init=EXACT_N_INIT, random_state=seed).fit(x)
    labels = model.labels_.astype(np.int64)
    return minmax_within(center_distances(x, labels, model.cluster_centers_), labels), labels


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, peak / 2**20, out


def rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b).statistic)


def run_input(n: int, offset: int, args: argparse.Namespace, k_range: tuple[int, int]) -> list[dict[str, Any]]:
    raw, true = mixture_with_components(n, args.dim, args.components, seed=n + offset)
    x = normalize_features(raw)
    del raw
    sizes = np.bincount(true, minlength=args.components)
    print(f"N = {n:,}, mixture seed {n + offset}: {args.components} components, smallest "
          f"{sizes.min():,} samples ({sizes.min() / n:.2%}), largest {sizes.max():,}", flush=True)
    ref_s, ref_mib, (k_ref, ref_difficulty, ref_db, ref_labels) = measure(lambda: reference_choice(x, k_range))
    print(f"  reference {ref_s:.2f} s ({ref_mib:.0f} MiB), k = {k_ref}, adjusted Rand index vs the components "
          f"{adjusted_rand_score(true, ref_labels):.4f}", flush=True)
    print("  reference Davies-Bouldin per k: " + ", ".join(f"{k}: {db:.4f}" for k, db in ref_db.items()), flush=True)
    exact_s, _, (exact, exact_labels) = measure(lambda: exact_difficulty(x, k_ref))
    exact_at = {k_ref: exact}
    print(f"  exact full-batch k-means (best of {EXACT_N_INIT}) at k = {k_ref}: {exact_s:.2f} s, adjusted Rand index "
          f"{adjusted_rand_score(true, exact_labels):.4f}; reference's MiniBatchKMeans difficulty vs exact: "
          f"Spearman {rank_corr(ref_difficulty, exact):.4f}", flush=True)
    rows = []
    for backend in args.backends.split(","):
        wall, mib, res = measure(
            lambda backend=backend: score_difficulty(
                x, k_range=k_range, normalize=False, db_subsample=args.db_subsample, backend=backend
            )
        )
        same = "same k" if res.k == k_ref else f"DIFFERENT k (reference {k_ref})"
        ari = adjusted_rand_score(true, res.cluster)
        at_ref = rank_corr(res.difficulty, exact) if res.k == k_ref else float("nan")
        print(f"  {backend:>7}: {wall:8.2f} s ({mib:.0f} MiB), k = {res.k} ({same}); speed-up vs reference "
              f"{ref_s / wall:6.2f}x; Spearman vs exact at k = {k_ref}: {rank_corr(res.difficulty, exact):.4f}; "
              f"adjusted Rand index vs the components {ari:.4f}", flush=True)
        at_own = at_ref
        if res.k != k_ref:
            # A different k makes the line above compare two partitions; also compare at the backend's own k.
            if res.k not in exact_at:
                exact_at[res.k] = exact_difficulty(x, res.k)[0]
            at_own = rank_corr(res.difficulty, exact_at[res.k])
            print(f"           Spearman vs exact at its own k = {res.k}: {at_own:.4f}; its Davies-Bouldin per k "
                  "(subsample): " + ", ".join(f"{r.k}: {r.davies_bouldin:.4f}" for r in res.k_table.itertuples()),
                  flush=True)
            # The difficulty at the reference's k, given: separates "which k" from "how good at that k".
            given_s, _, given = measure(
                lambda backend=backend: score_difficulty(
                    x, k=k_ref, normalize=False, db_subsample=args.db_subsample, backend=backend
                )
            )
            at_ref = rank_corr(given.difficulty, exact)
            print(f"           given k = {k_ref} (the reference's): {given_s:.2f} s, Spearman vs exact {at_ref:.4f}, "
                  f"adjusted Rand index {adjusted_rand_score(true, given.cluster):.4f}", flush=True)
        rows.append({"seed": n + offset, "smallest": sizes.min() / n, "k_ref": k_ref, "ari_ref": adjusted_rand_score(true, ref_labels),
                     "backend": backend, "speedup": ref_s / wall, "k": res.k, "ari": ari, "spearman_own_k": at_own,
                     "spearman_ref_k": at_ref})
    return rows


def run_size(n: int, args: argparse.Namespace, k_range: tuple[int, int]) -> None:
    rows = [row for offset in args.mixture_seeds for row in run_input(n, offset, args, k_range)]
    print(f"\nN = {n:,} summary (generating k = {args.components}):")
    print("  mixture seed | smallest component | reference k (ARI) | backend | speed-up | k (ARI) | same k | "
          "Spearman vs exact at its k | at the reference's k (given)")
    for r in rows:
        print(f"  {r['seed']} | {r['smallest']:.2%} | {r['k_ref']} ({r['ari_ref']:.4f}) | {r['backend']} | "
              f"{r['speedup']:.2f}x | {r['k']} ({r['ari']:.4f}) | {'yes' if r['k'] == r['k_ref'] else 'NO'} | "
              f"{r['spearman_own_k']:.4f} | {r['spearman_ref_k']:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--k-range", default="2,20", help="inclusive k_min,k_max")
    parser.add_argument("--db-subsample", type=int, default=20_000)
    parser.add_argument("--backends", default="faiss,sklearn", help="comma-separated difficulty.backend values")
    parser.add_argument("--mixture-seeds", default="0,1,2", help="comma-separated offsets: mixture seed = N + offset")
    args = parser.parse_args()
    args.mixture_seeds = [int(v) for v in args.mixture_seeds.split(",")]
    k_min, k_max = (int(v) for v in args.k_range.split(","))
    print(f"D = {args.dim}, {args.components} mixture components, k in [{k_min}, {k_max}], "
          f"db_subsample = {args.db_subsample}, OMP_NUM_THREADS = {os.environ['OMP_NUM_THREADS']}", flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        run_size(n, args, (k_min, k_max))


if __name__ == "__main__":
    main()
