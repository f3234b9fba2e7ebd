"""At N = 1,000,000, k = 8: which k = 8 clustering of difficulty_scaling.py's data is closer to the mixture that made it.

difficulty_scaling.py at N = 1M has the faiss backend choose k = 8 and the reference k = 7, and compares
each backend with one full-batch KMeans (n_init=1, seed 42). This prints, at k = 8, the inertia and
cluster sizes of the faiss backend's fit and of that KMeans, the true component sizes, the adjusted
Rand index of each with the true components, and the Spearman correlation of their difficulties.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/difficulty_fit_check.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from difficulty_scaling import mixture

from devcurriculum.difficulty import score_difficulty
from devcurriculum.difficulty.scoring import center_distances, minmax_within, normalize_features

N, D, COMPONENTS, K = 1_000_000, 384, 8, 8


def main() -> None:
    x = normalize_features(mixture(N, D, COMPONENTS, seed=N))
    res = score_difficulty(x, k=K, normalize=False, db_subsample=20_000, backend="faiss")
    model = KMeans(n_clusters=K, n_init=1, random_state=42).fit(x)
    exact = minmax_within(center_distances(x, model.labels_.astype(np.int64), model.cluster_centers_), model.labels_)
    # The same draws as mixture(): centres, component weights, then the component of every sample.
    rng = np.random.default_rng(N)
    rng.standard_normal((COMPONENTS, D))
    true = rng.choice(COMPONENTS, size=N, p=rng.dirichlet(np.full(COMPONENTS, 2.0)))
    print(f"faiss k={K}: inertia {float(np.sum(res.distance**2)):.1f}, sizes {sorted(np.bincount(res.cluster).tolist())}")
    print(f"KMeans k={K} n_init=1: inertia {model.inertia_:.1f}, sizes {sorted(np.bincount(model.labels_).tolist())}")
    print(f"true component sizes {sorted(np.bincount(true).tolist())}")
    print(f"adjusted Rand index vs the true components: faiss {adjusted_rand_score(true, res.cluster):.4f}, "
          f"KMeans {adjusted_rand_score(true, model.labels_):.4f}")
    print(f"Spearman of the two difficulties: {spearmanr(res.difficulty, exact).statistic:.4f}")


if __name__ == "__main__":
    main()
