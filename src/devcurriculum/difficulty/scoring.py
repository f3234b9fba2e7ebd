"""k-means difficulty of every sample (docs/algorithms.md §B, "Difficulty").

Pipeline: optional z-score + row L2 normalisation -> k-means (k given, or chosen by the lowest
Davies-Bouldin index over an inclusive range) -> distance of each sample to its assigned centre ->
min-max normalised within each cluster (within each label in supervised mode).

Deviations from the reference, on purpose:

- A given ``k`` is honoured (the reference ignores it unless auto-selection is switched off).
- The model fitted while searching k is reused for the chosen k instead of being refitted.
- For large N the Davies-Bouldin index may be scored on a seeded subsample (``db_subsample``,
  docs/performance.md "Difficulty at scale"); the k-means fits themselves always see every sample.
- Supervised mode, a label with fewer members than k: the reference gives all its members
  difficulty 1.0. We treat such a label as **one cluster** (distance to the label's mean,
  min-max within the label), so its most typical members still come first.

Backends (``difficulty.backend``). ``sklearn`` fits k-means as the reference procedure does
(docs/algorithms.md §B step 2). ``faiss`` trains faiss k-means (k-means++ seeding, 20 Lloyd iterations) on a
seeded sample of at most 256 points per centroid, three times from different seeds (the lowest
objective on its sample wins). The k search scores each k from those centres on the Davies-Bouldin
subsample alone (its k table's inertia is the subsample's, scaled to N). Only the chosen k assigns
every sample exactly (one float32 matrix product per block: faster than faiss's flat index for a
handful of centres) and is refined by ``FAISS_REFINE_STEPS`` Lloyd steps on every sample (block
sums of 4,096 rows in float32, accumulated in float64), so the centres a difficulty is measured
from have seen all the data. At N = 1M, D = 384 on 2 cores it is 8-14x faster than the reference;
on 8-component mixtures it chose k = 8 with a difficulty whose rank correlation with full-batch
k-means is 1.0000, the reference's k on two inputs of three; on the third the reference's
MiniBatchKMeans missed a 0.28 % component and chose 7 (``benchmarks/difficulty_scaling.py``,
``docs/performance.md``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import davies_bouldin_score

from devcurriculum.config import DifficultyConfig
from devcurriculum.utils.progress import progress_bar

log = logging.getLogger("devcurriculum.difficulty.scoring")

#: Above this many samples MiniBatchKMeans replaces KMeans (docs/algorithms.md §B, "Difficulty" step 2).
FULL_KMEANS_MAX_N = 10_000
#: Rows per block when computing distances in float64 (bounds the temporary memory).
_DISTANCE_BLOCK = 4_096
BACKENDS = ("sklearn", "faiss")
#: faiss: Lloyd iterations on the training sample, and the sample's size per centroid (faiss's default)
FAISS_TRAIN_ITERATIONS = 20
FAISS_POINTS_PER_CENTROID = 256
#: faiss: Lloyd steps on all samples after training on the sample
FAISS_REFINE_STEPS = 2
#: faiss: independent trainings per k (each its own sample and k-means++ seeding); the lowest
#: objective on its sample wins. One training at N = 1M left k = 7 in a fit with Davies-Bouldin 4.07
#: where three gave 0.64, the value the reference's fit reaches (docs/performance.md).
FAISS_N_INIT = 3


@dataclass(frozen=True)
class DifficultyResult:
    """Per-sample difficulty and the clustering behind it.

    ``difficulty`` is float64 in [0, 1]; ``cluster`` the (globally unique) cluster id; ``distance``
    the Euclidean distance to the assigned centre in the (normalised) feature space; ``k`` the
    number of clusters used; ``k_table`` one row per k tried with columns
    ``k, davies_bouldin, inertia, chosen``.
    """

    difficulty: np.ndarray
    cluster: np.ndarray
    distance: np.ndarray
    k: int
    k_table: pd.DataFrame


@dataclass
class _Fit:
    labels: np.ndarray
    centers: np.ndarray
    inertia: float


def normalize_features(features: np.ndarray) -> np.ndarray:
    """Z-score each dimension (unbiased std, ``(x - mean) / (std + 1e-6)``), then L2-normalise rows.

    float64 input stays float64; anything else is computed into float32 (what k-means consumes for
    DINO-sized features without doubling memory). The statistics are accumulated in float64.
    """
    x = np.asarray(features)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"z-scoring needs at least 2 samples, got {n}")
    mean = x.mean(axis=0, dtype=np.float64)
    var = np.zeros(x.shape[1], dtype=np.float64)
    out = np.empty(x.shape, dtype=dtype)
    # Two passes in blocks: exact unbiased variance without a full float64 copy of the features.
    for start in range(0, n, _DISTANCE_BLOCK):
        block = x[start : start + _DISTANCE_BLOCK].astype(np.float64) - mean
        var += np.einsum("ij,ij->j", block, block)
    scale = 1.0 / (np.sqrt(var / (n - 1)) + 1e-6)
    for start in range(0, n, _DISTANCE_BLOCK):
        block = (x[start : start + _DISTANCE_BLOCK].astype(np.float64) - mean) * scale
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        # A row equal to the mean in every dimension has norm 0: keep it at the origin.
        block /= np.where(norms > 0, norms, 1.0)
        out[start : start + len(block)] = block
    return out


def minmax_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Min-max normalise ``values`` within each group; a group of one, or a constant group, gets 0."""
    values = np.asarray(values, dtype=np.float64)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, inverse, values)
    np.maximum.at(hi, inverse, values)
    span = hi - lo
    # Exact comparison, as specified: identical points get bit-identical distances, so a cluster of
    # duplicates has span exactly 0.
    constant = span <= 0
    safe_span = np.where(constant, 1.0, span)
    out = (values - lo[inverse]) / safe_span[inverse]
    out[constant[inverse]] = 0.0
    return np.clip(out, 0.0, 1.0)


def center_distances(x: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row to its assigned centre, in float64, block by block."""
    out = np.empty(len(x), dtype=np.float64)
    centers64 = np.asarray(centers, dtype=np.float64)
    for start in range(0, len(x), _DISTANCE_BLOCK):
        stop = start + _DISTANCE_BLOCK
        diff = x[start:stop].astype(np.float64) - centers64[labels[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _fit_kmeans(x: np.ndarray, k: int, seed: int, backend: str) -> _Fit:
    """k-means of ``x`` with k clusters by ``backend`` (see the module docstring)."""
    n = len(x)
    if k == 1:
        # One cluster: the centre is the mean; no need to run an optimiser.
        center = x.mean(axis=0, dtype=np.float64)[None, :]
        labels = np.zeros(n, dtype=np.int64)
        inertia = float(np.sum(center_distances(x, labels, center) ** 2))
        return _Fit(labels, center, inertia)
    if backend != "faiss":
        return _fit_sklearn(x, k, seed)
    return _refine_faiss(x, _train_faiss(x, k, seed))


def _fit_sklearn(x: np.ndarray, k: int, seed: int) -> _Fit:
    """KMeans(n_init=10) up to 10,000 samples, MiniBatchKMeans(batch_size=min(1024, N//10)) above."""
    n = len(x)
    if n <= FULL_KMEANS_MAX_N:
        model: KMeans | MiniBatchKMeans = KMeans(n_clusters=k, n_init=10, random_state=seed)
    else:
        # n_init spelled out: sklearn's default was 3 before 1.4 and is 1 since (the pinned 1.9.1), and the
        # reference pins no version; with 3, k = 8 of an 8-component mixture is fitted where 1 misses a
        # component (docs/performance.md), so the chosen k depends on it.
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=min(1024, n // 10), n_init=1)
    with warnings.catch_warnings():
        # Duplicate points can leave fewer distinct clusters than k; that is harmless here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x)
    return _Fit(np.asarray(model.labels_, dtype=np.int64), model.cluster_centers_, float(model.inertia_))


def _assign(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every row (exact) and the squared distance to it, block by block.

    ||x||^2 - 2 x.c + ||c||^2 with one float32 matrix product per block (torch/MKL): with a handful
    of centres this is several times faster than faiss's flat index, and gives the same labels.
    """
    c = torch.from_numpy(np.ascontiguousarray(centers, dtype=np.float32))
    c_sq = (c * c).sum(1)
    labels = np.empty(len(x), dtype=np.int64)
    sq_dist = np.empty(len(x), dtype=np.float32)
    block = _DISTANCE_BLOCK * 4
    for start in range(0, len(x), block):
        rows = torch.from_numpy(x[start : start + block])
        d = torch.addmm(c_sq, rows, c.T, alpha=-2.0)  # ||c||^2 - 2 x.c
        best, arg = d.min(dim=1)
        labels[start : start + len(rows)] = arg.numpy()
        sq_dist[start : start + len(rows)] = (best + (rows * rows).sum(1)).clamp_(min=0).numpy()
    return labels, sq_dist


def _cluster_means(x: np.ndarray, labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Mean of each cluster (one-hot float32 matrix products per block of rows, the block sums
    accumulated in float64); an empty cluster keeps its centre."""
    k = len(previous)
    sums = torch.zeros((k, x.shape[1]), dtype=torch.float64)
    block = _DISTANCE_BLOCK
    for start in range(0, len(x), block):
        lab = torch.from_numpy(labels[start : start + block])
        one_hot = torch.zeros((k, len(lab)), dtype=torch.float32)
        one_hot[lab, torch.arange(len(lab))] = 1.0
        sums += one_hot @ torch.from_numpy(x[start : start + block])
    counts = np.bincount(labels, minlength=k)
    means = sums.numpy() / np.maximum(counts, 1)[:, None]
    return np.where(counts[:, None] > 0, means, previous).astype(np.float32)


def _train_faiss(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Centres (float32, k x D) of the best of FAISS_N_INIT faiss k-means trainings, each on a seeded
    sample of at most FAISS_POINTS_PER_CENTROID * k rows."""
    import faiss

    data = np.ascontiguousarray(x, dtype=np.float32)
    n_train = min(len(data), FAISS_POINTS_PER_CENTROID * k)
    best: tuple[float, np.ndarray] | None = None
    for attempt in range(FAISS_N_INIT):
        attempt_seed = seed + attempt  # each attempt its own sample and seeding
        rng = np.random.default_rng(attempt_seed)
        sample = data[np.sort(rng.choice(len(data), size=n_train, replace=False))] if n_train < len(data) else data
        # k-means++ seeding (as sklearn's) on the sample: a random start often puts two centres in one cluster.
        # (in float64: sklearn would otherwise upcast the float32 sample chunk by chunk for every trial)
        init, _ = kmeans_plusplus(sample.astype(np.float64), k, random_state=attempt_seed)
        kmeans = faiss.Kmeans(
            data.shape[1], k, niter=FAISS_TRAIN_ITERATIONS, seed=attempt_seed, max_points_per_centroid=n_train,
            min_points_per_centroid=1, verbose=False,
        )
        kmeans.train(sample, init_centroids=np.ascontiguousarray(init, dtype=np.float32))
        # The attempts' samples are equally large, so their final objectives compare directly.
        centroids, history = kmeans.centroids, kmeans.obj
        assert centroids is not None and history is not None
        objective = float(history[-1])
        if best is None or objective < best[0]:
            best = (objective, np.asarray(centroids, dtype=np.float32).copy())
    assert best is not None
    return best[1]


def _refine_faiss(x: np.ndarray, centers: np.ndarray) -> _Fit:
    """Assign every row to ``centers``, then FAISS_REFINE_STEPS Lloyd steps on every row."""
    data = np.ascontiguousarray(x, dtype=np.float32)
    centers = np.asarray(centers, dtype=np.float32)
    labels, sq_dist = _assign(data, centers)
    for _ in range(FAISS_REFINE_STEPS):
        centers = _cluster_means(data, labels, centers)
        labels, sq_dist = _assign(data, centers)
    return _Fit(labels, centers.astype(np.float64), float(sq_dist.sum(dtype=np.float64)))


def _davies_bouldin(x: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index (lower is better); NaN when undefined (fewer than 2 or more than N-1 labels)."""
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels > len(x) - 1:
        return float("nan")
    return float(davies_bouldin_score(x, labels))


def _given_k_davies_bouldin(x: np.ndarray, labels: np.ndarray, db_subsample: int | None, seed: int) -> float:
    sub = _subsample(len(x), db_subsample, seed)
    return _davies_bouldin(x, labels) if sub is None else _davies_bouldin(x[sub], labels[sub])


def _subsample(n: int, db_subsample: int | None, seed: int) -> np.ndarray | None:
    if db_subsample is None or n <= db_subsample:
        return None
    if db_subsample < 3:
        raise ValueError(f"db_subsample must be at least 3 (or None), got {db_subsample}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=db_subsample, replace=False))


def _k_search_range(n: int, k_range: Sequence[int]) -> range:
    if len(k_range) != 2:
        raise ValueError(f"k_range must be [k_min, k_max], got {list(k_range)}")
    k_min, k_max = int(k_range[0]), int(k_range[1])
    if k_min < 2 or k_max < k_min:
        raise ValueError(f"k_range must satisfy 2 <= k_min <= k_max, got {[k_min, k_max]}")
    if k_min > n - 1:
        raise ValueError(
            f"k_range {[k_min, k_max]} needs more samples: Davies-Bouldin needs k <= N-1 and N = {n}"
        )
    if k_max > n - 1:
        log.info("k_range %s restricted to [%d, %d]: only N = %d samples", [k_min, k_max], k_min, n - 1, n)
        k_max = n - 1
    return range(k_min, k_max + 1)


def _select_k(
    x: np.ndarray, ks: range, seed: int, db_subsample: int | None, backend: str
) -> tuple[_Fit, int, pd.DataFrame]:
    """Fit every k, score Davies-Bouldin, keep only the best fit (memory stays O(N)).

    faiss: only the Davies-Bouldin rows are assigned while searching (the k table's inertia is
    theirs, scaled to N); every row is assigned, and refined, for the chosen k alone.
    """
    sub = _subsample(len(x), db_subsample, seed)
    x_db = x
    if sub is not None:
        log.info("Davies-Bouldin scored on a seeded subsample of %d of %d samples", len(sub), len(x))
        x_db = x[sub]  # copied once, not once per k
    if backend == "faiss":
        x_db = np.ascontiguousarray(x_db, dtype=np.float32)
    rows = []
    best: tuple[float, int, _Fit | np.ndarray] | None = None
    for k in progress_bar(ks, desc="k-means over k", leave=False):
        found: _Fit | np.ndarray
        if backend == "faiss":
            found = _train_faiss(x, k, seed)
            labels_db, sq_db = _assign(x_db, found)
            inertia = float(sq_db.sum(dtype=np.float64)) * len(x) / len(x_db)
        else:
            found = _fit_sklearn(x, k, seed)
            labels_db = found.labels if sub is None else found.labels[sub]
            inertia = found.inertia
        db = _davies_bouldin(x_db, labels_db)
        rows.append({"k": k, "davies_bouldin": db, "inertia": inertia})
        log.info("k=%d: Davies-Bouldin %.6f, inertia %.6g", k, db, inertia)
        # Strictly lower wins, so ties go to the smaller k; NaN never wins.
        if not np.isnan(db) and (best is None or db < best[0]):
            best = (db, k, found)
    if best is None:
        raise ValueError(f"Davies-Bouldin is undefined for every k in {list(ks)} (all points identical?)")
    table = pd.DataFrame(rows)
    table["chosen"] = table["k"] == best[1]
    chosen = best[2]
    fit = chosen if isinstance(chosen, _Fit) else _refine_faiss(x, chosen)
    return fit, best[1], table


def _validate_features(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"features contain NaN/Inf in {len(rows)} row(s), first rows {rows[:5].tolist()}")
    return x


def _label_groups(labels: np.ndarray, n: int) -> list[np.ndarray]:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if pd.isna(pd.Series(labels)).any():
        raise ValueError("labels contain missing values")
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _supervised(
    x: np.ndarray, labels: np.ndarray, k: int, seed: int, backend: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """k-means with k inside each label; difficulty min-max within each label.

    A label with fewer members than k is one cluster (see the module docstring).
    """
    n = len(x)
    cluster = np.empty(n, dtype=np.int64)
    distance = np.empty(n, dtype=np.float64)
    difficulty = np.empty(n, dtype=np.float64)
    inertia = 0.0
    offset = 0
    for members in progress_bar(_label_groups(labels, n), desc="k-means per label", leave=False):
        k_label = k if len(members) >= k else 1
        if k_label != k:
            log.info("label of %d member(s) < k=%d: treated as one cluster", len(members), k)
        fit = _fit_kmeans(x[members], k_label, seed, backend)
        d = center_distances(x[members], fit.labels, fit.centers)
        cluster[members] = fit.labels + offset
        distance[members] = d
        difficulty[members] = minmax_within(d, np.zeros(len(d), dtype=np.int64))
        inertia += fit.inertia
        offset += k_label
    return cluster, distance, difficulty, inertia


def score_difficulty(
    features: np.ndarray,
    k: int | None = None,
    k_range: Sequence[int] = DifficultyConfig.k_range,
    labels: np.ndarray | None = None,
    normalize: bool = DifficultyConfig.normalize,
    seed: int = DifficultyConfig.seed,
    db_subsample: int | None = None,
    backend: str = DifficultyConfig.backend,
) -> DifficultyResult:
    """Difficulty of each of N samples from their (N, D) features (docs/algorithms.md §B, "Difficulty").

    ``k=None`` chooses k by the lowest Davies-Bouldin index over the inclusive ``k_range``
    (restricted to N-1); a given k (1 <= k <= N-1) is used as is. With ``labels`` (supervised mode)
    the chosen k is applied inside each label and difficulty is min-max normalised within each label;
    the k table then reports the global search (auto k) or one row with the summed within-label
    inertia and an undefined Davies-Bouldin index (given k). ``backend``: ``sklearn`` or ``faiss``
    (module docstring).

    Defaults are the ``difficulty`` block's (:class:`~devcurriculum.config.DifficultyConfig`; ``k=None``
    is its ``auto``) but for ``db_subsample``: None scores the Davies-Bouldin index on every sample,
    where the workflow passes ``difficulty.db_subsample`` (a subsample by default).
    """
    if backend not in BACKENDS:
        raise ValueError(f"difficulty.backend must be one of {list(BACKENDS)}, got {backend!r}")
    x = _validate_features(features)
    n = len(x)
    if n < 2:
        raise ValueError(f"score_difficulty needs at least 2 samples, got {n}")
    if k is not None:
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if k > n - 1:
            raise ValueError(f"k={k} is larger than N-1 = {n - 1} (N = {n} samples)")
    if normalize:
        x = normalize_features(x)

    if labels is not None:
        if k is None:
            _, k, k_table = _select_k(x, _k_search_range(n, k_range), seed, db_subsample, backend)
            cluster, distance, difficulty, _ = _supervised(x, labels, k, seed, backend)
        else:
            cluster, distance, difficulty, inertia = _supervised(x, labels, k, seed, backend)
            k_table = pd.DataFrame(
                {"k": [k], "davies_bouldin": [float("nan")], "inertia": [inertia], "chosen": [True]}
            )
    else:
        if k is None:
            fit, k, k_table = _select_k(x, _k_search_range(n, k_range), seed, db_subsample, backend)
        else:
            fit = _fit_kmeans(x, k, seed, backend)
            k_table = pd.DataFrame(
                {
                    "k": [k],
                    "davies_bouldin": [_given_k_davies_bouldin(x, fit.labels, db_subsample, seed)],
                    "inertia": [fit.inertia],
                    "chosen": [True],
                }
            )
        cluster = fit.labels
        distance = center_distances(x, fit.labels, fit.centers)
        difficulty = minmax_within(distance, cluster)

    k_table = k_table.astype({"k": "int64", "davies_bouldin": "float64", "inertia": "float64", "chosen": bool})
    log.info("difficulty scored: N=%d, k=%d, supervised=%s, backend %s", n, k, labels is not None, backend)
    return DifficultyResult(
        difficulty=difficulty.astype(np.float64, copy=False),
        cluster=np.asarray(cluster, dtype=np.int64),
        distance=distance,
        k=int(k),
        k_table=k_table.reset_index(drop=True),
    )
