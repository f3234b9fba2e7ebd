"""Readouts of frozen embeddings (rule ``readout``): linear probe and cosine kNN retrieval.

The protocol of the NeurIPS 2023 infant-curriculum study (docs/algorithms.md §A, "Evaluation protocol"):

- linear: ``StandardScaler`` fitted on the train split, then ``SGDClassifier(loss="hinge")``;
  top-1 accuracy on the test split;
- kNN: cosine similarity of every test item to every train item; the top-k hit rate is the fraction
  of test items with at least one of their k nearest train items sharing their label.

One job per run reads every benchmark at every stage checkpoint from the run's embedding table and
writes long-format rows ``readout, metric, value`` with the run identity (model, curriculum, seed) and
the point (benchmark, after_stage, step), so the summary is a plain concatenation. Each benchmark's
majority-class chance level goes into the table's metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

from devcurriculum.config import KnnReadoutConfig, LinearReadoutConfig
from devcurriculum.utils.embeddings import embedding_matrix
from devcurriculum.utils.io import check_table_config, provenance, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.eval.readouts")

RUN_KEYS = ("model", "curriculum", "seed")
POINT_KEYS = ("benchmark", "after_stage", "step")

EVAL_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("curriculum", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("after_stage", pa.int64(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("readout", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)


def linear_readout(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    alpha: float,
    seed: int,
) -> float:
    """Top-1 test accuracy of a hinge-loss linear classifier on standardised features.

    The keywords are ``evaluation.linear``'s (``**LinearReadoutConfig().to_dict()`` for its defaults).
    """
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


def readout_values(
    x: np.ndarray, labels: np.ndarray, split: np.ndarray, *, linear: LinearReadoutConfig, knn: KnnReadoutConfig
) -> list[tuple[str, str, float]]:
    """``(readout, metric, value)`` of the linear probe and every kNN k on one embedding matrix."""
    train, test = split == "train", split == "test"
    rows = [
        (
            "linear",
            "top1_accuracy",
            linear_readout(x[train], labels[train], x[test], labels[test], max_iter=linear.max_iter, tol=linear.tol,
                           alpha=linear.alpha, seed=linear.seed),
        )
    ]
    rows += [("knn", f"top{k}_hit_rate", rate) for k, rate in knn_hit_rates(
        x[train], labels[train], x[test], labels[test], knn.k).items()]
    return rows


def evaluate_run(
    *,
    embeddings: Sequence[PathLike],
    benchmarks: Mapping[str, PathLike],
    linear: LinearReadoutConfig,
    knn: KnnReadoutConfig,
    out_path: PathLike,
    run_info: Mapping[str, Any],
    network: Mapping[str, Any] | None = None,
    model_key: str = "the model config",
) -> pa.Table:
    """Both readouts on every (benchmark, after_stage) of one run's embeddings (the shards of ``embed``).

    ``benchmarks`` maps each benchmark name to its item table (labels and splits); every item of every
    benchmark must be embedded at every stage the embeddings hold. When ``network`` (the model's
    network config, named ``model_key`` in errors) is given, each shard must have been embedded with it.
    """
    missing_keys = [k for k in RUN_KEYS if k not in run_info]
    if missing_keys:
        raise KeyError(f"run_info lacks {missing_keys}; needs {list(RUN_KEYS)}")
    if network is not None:
        for part in embeddings:
            check_table_config(part, network, given_as=model_key)
    emb = pa.concat_tables([read_table(p) for p in embeddings])
    columns: dict[str, list] = {name: [] for name in EVAL_SCHEMA.names}
    chance: dict[str, float] = {}
    for name, table_path in benchmarks.items():
        labels, split = _labels(table_path)
        chance[name] = _majority_fraction(labels[split == "test"])
        for (after_stage, step), x in _stage_matrices(emb, name, table_path):
            for readout, metric, value in readout_values(x, labels, split, linear=linear, knn=knn):
                row = {**{k: run_info[k] for k in RUN_KEYS}, "benchmark": name, "after_stage": after_stage,
                       "step": step, "readout": readout, "metric": metric, "value": value}
                for key, v in row.items():
                    columns[key].append(v)
    table = table_from_columns(columns, EVAL_SCHEMA)
    meta = provenance(
        "readout",
        {"linear": linear.shaping(), "knn": knn.shaping()},
        run={k: run_info[k] for k in run_info},
        # majority-class accuracy on each test split: the floor a readout must beat
        chance_top1=chance,
        embeddings=[str(p) for p in embeddings],
    )
    write_table(table, out_path, metadata=meta)
    log.info("%s: %d readout values over %d benchmark(s)", out_path, table.num_rows, len(benchmarks))
    return table


def _labels(bench_table: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Labels and splits of a benchmark's items, in its row order; both splits must be non-empty."""
    bench = read_table(bench_table, columns=["item_id", "label", "split"])
    labels = np.asarray(bench.column("label").to_pylist(), dtype=object)
    split = np.asarray(bench.column("split").to_pylist(), dtype=object)
    bad = sorted(set(split) - {"train", "test"})
    if bad:
        raise ValueError(f"{bench_table}: split must be train or test, found {bad}")
    if not (split == "train").any() or not (split == "test").any():
        raise ValueError(f"{bench_table}: needs both train and test items")
    return labels, split


def _majority_fraction(labels: np.ndarray) -> float:
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / counts.sum()) if len(counts) else 0.0


def _stage_matrices(emb: pa.Table, name: str, bench_table: PathLike) -> list[tuple[tuple[int, int], np.ndarray]]:
    """``((after_stage, step), X)`` per stage: the benchmark's embeddings aligned with its item order."""
    bench_ids = read_table(bench_table, columns=["item_id"]).column("item_id").to_pylist()
    mine = emb.filter(pc.equal(emb.column("benchmark"), name))
    if mine.num_rows == 0:
        raise ValueError(f"the embeddings hold no items of benchmark {name!r}")
    out = []
    stages = sorted(set(zip(mine.column("after_stage").to_pylist(), mine.column("step").to_pylist(), strict=True)))
    for after_stage, step in stages:
        part = mine.filter(pc.equal(mine.column("after_stage"), after_stage))
        out.append(((int(after_stage), int(step)), _aligned(part, bench_ids, f"{name} after stage {after_stage}")))
    return out


def _aligned(part: pa.Table, bench_ids: list[str], what: str) -> np.ndarray:
    """The rows of ``part`` in benchmark order; every item exactly once."""
    ids = part.column("item_id").to_pylist()
    position = {item: i for i, item in enumerate(ids)}
    if len(position) != len(ids):
        raise ValueError(f"embeddings of {what}: duplicate item_id values")
    absent = [item for item in bench_ids if item not in position]
    if absent:
        raise ValueError(f"embeddings of {what}: {len(absent)} items have no embedding, e.g. {absent[:5]}")
    if len(position) != len(bench_ids):
        raise ValueError(f"embeddings of {what}: {len(position) - len(bench_ids)} embeddings are not benchmark items")
    x = embedding_matrix(part.column("embedding")).astype(np.float64)[[position[i] for i in bench_ids]]
    if not np.isfinite(x).all():
        raise ValueError(f"embeddings of {what} contain NaN or Inf")
    return x


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)
