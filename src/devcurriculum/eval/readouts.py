"""Readouts of frozen embeddings (rule ``evaluate``): linear probe and cosine kNN retrieval.

The protocol of the NeurIPS 2023 infant-curriculum study (ALGORITHMS.md A, "Evaluation protocol"):

- linear: ``StandardScaler`` fitted on the train split, then ``SGDClassifier(loss="hinge")``;
  top-1 accuracy on the test split;
- kNN: cosine similarity of every test item to every train item; the top-k hit rate is the fraction
  of test items with at least one of their k nearest train items sharing their label.

Output rows are long-format ``readout, metric, value`` plus the run identity (model, curriculum,
seed, benchmark), so the summary is a plain concatenation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

from devcurriculum.config import KnnReadoutConfig, LinearReadoutConfig
from devcurriculum.utils.io import PathLike, embedding_matrix, provenance, table_from_columns, write_table

log = logging.getLogger("devcurriculum.eval.readouts")

RUN_KEYS = ("model", "curriculum", "seed", "benchmark")

EVAL_SCHEMA = pa.schema(
    [
        pa.field("readout", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("curriculum", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
    ]
)


def linear_readout(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    max_iter: int = 5000,
    tol: float = 1e-4,
    alpha: float = 1e-4,
    seed: int = 0,
) -> float:
    """Top-1 test accuracy of a hinge-loss linear classifier on standardised features."""
    if len(np.unique(train_y)) < 2:
        raise ValueError("linear readout needs at least two classes in the train split")
    scaler = StandardScaler().fit(train_x)
    clf = SGDClassifier(loss="hinge", max_iter=max_iter, tol=tol, alpha=alpha, random_state=seed)
    clf.fit(scaler.transform(train_x), train_y)
    return float(np.mean(clf.predict(scaler.transform(test_x)) == test_y))


def knn_hit_rates(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    ks: Sequence[int],
) -> dict[int, float]:
    """Cosine kNN retrieval test -> train: for each k, the fraction of test items with a same-label hit.

    Ties in similarity are broken by train row order (stable sort), so results are deterministic.
    A zero vector has cosine similarity 0 to everything (it is not normalised to NaN).
    """
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"evaluation.knn.k must be a non-empty list of integers >= 1, got {ks}")
    if max(ks) > len(train_x):
        raise ValueError(
            f"evaluation.knn.k: k={max(ks)} exceeds the {len(train_x)} train items of this benchmark"
        )
    train_n = _l2_normalise(train_x)
    test_n = _l2_normalise(test_x)
    sim = test_n @ train_n.T  # (n_test, n_train)
    k_max = max(ks)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k_max]
    same = np.asarray(train_y)[order] == np.asarray(test_y)[:, None]  # (n_test, k_max)
    first_hit = np.cumsum(same, axis=1) > 0  # column j: a hit among the j+1 nearest
    return {k: float(first_hit[:, k - 1].mean()) for k in ks}


def evaluate_embeddings(
    *,
    embeddings: PathLike,
    bench_table: PathLike,
    linear: LinearReadoutConfig,
    knn: KnnReadoutConfig,
    out_path: PathLike,
    run_info: Mapping[str, Any],
) -> pa.Table:
    """Run both readouts on one (run, benchmark) and write the ``readout, metric, value`` table."""
    missing_keys = [k for k in RUN_KEYS if k not in run_info]
    if missing_keys:
        raise KeyError(f"run_info lacks {missing_keys}; needs {list(RUN_KEYS)}")
    x, labels, split = _join(embeddings, bench_table)
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"{bench_table}: needs both train and test items (train {train.sum()}, test {test.sum()})")

    readout_rows: list[tuple[str, str, float]] = [
        (
            "linear",
            "top1_accuracy",
            linear_readout(
                x[train], labels[train], x[test], labels[test],
                max_iter=linear.max_iter, tol=linear.tol, alpha=linear.alpha, seed=linear.seed,
            ),
        )
    ]
    for k, rate in knn_hit_rates(x[train], labels[train], x[test], labels[test], knn.k).items():
        readout_rows.append(("knn", f"top{k}_hit_rate", rate))

    n = len(readout_rows)
    table = table_from_columns(
        {
            "readout": [r[0] for r in readout_rows],
            "metric": [r[1] for r in readout_rows],
            "value": [r[2] for r in readout_rows],
            "model": [str(run_info["model"])] * n,
            "curriculum": [str(run_info["curriculum"])] * n,
            "seed": [int(run_info["seed"])] * n,
            "benchmark": [str(run_info["benchmark"])] * n,
        },
        EVAL_SCHEMA,
    )
    classes, counts = np.unique(labels[test], return_counts=True)
    meta = provenance(
        "evaluate",
        {"linear": linear.shaping(), "knn": knn.shaping()},
        run={k: run_info[k] for k in run_info},
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        n_classes=len(np.unique(labels)),
        # majority-class accuracy on the test split: the floor a readout must beat
        chance_top1=float(counts.max() / counts.sum()) if len(classes) else 0.0,
        embeddings=str(embeddings),
    )
    write_table(table, out_path, metadata=meta)
    log.info(
        "%s: %s", out_path, ", ".join(f"{r}/{m}={v:.4f}" for r, m, v in readout_rows)
    )
    return table


def _join(embeddings_path: PathLike, bench_table: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings aligned with the benchmark's labels and splits by item_id (every item must be embedded)."""
    emb = pq.read_table(embeddings_path)
    bench = pq.read_table(bench_table, columns=["item_id", "label", "split"])
    emb_ids = emb.column("item_id").to_pylist()
    position = {item: i for i, item in enumerate(emb_ids)}
    if len(position) != len(emb_ids):
        raise ValueError(f"{embeddings_path}: duplicate item_id values")
    bench_ids = bench.column("item_id").to_pylist()
    absent = [item for item in bench_ids if item not in position]
    if absent:
        raise ValueError(f"{embeddings_path}: {len(absent)} items of {bench_table} have no embedding, e.g. {absent[:5]}")
    extra = len(position) - len(bench_ids)
    if extra:
        raise ValueError(f"{embeddings_path}: {extra} embeddings are not items of {bench_table}")
    x = embedding_matrix(emb.column("embedding")).astype(np.float64)[[position[i] for i in bench_ids]]
    if not np.isfinite(x).all():
        raise ValueError(f"{embeddings_path}: embeddings contain NaN or Inf")
    labels = np.asarray(bench.column("label").to_pylist(), dtype=object)
    split = np.asarray(bench.column("split").to_pylist(), dtype=object)
    bad = sorted(set(split) - {"train", "test"})
    if bad:
        raise ValueError(f"{bench_table}: split must be train or test, found {bad}")
    return x, labels, split


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)
