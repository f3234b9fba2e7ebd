"""Linear and kNN readouts on data whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from devcurriculum.config import KnnReadoutConfig, LinearReadoutConfig
from devcurriculum.eval.readouts import EVAL_SCHEMA, evaluate_run, knn_hit_rates, linear_readout
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import read_metadata, write_table

EVAL_CFG = {
    "linear": LinearReadoutConfig(max_iter=5000, tol=1e-4, alpha=1e-4, seed=0),
    "knn": KnnReadoutConfig(k=(1, 5)),
}
RUN = {"model": "videomae", "curriculum": "developmental", "seed": 3}


def _clusters(n_per_class: int, n_classes: int, dim: int, spread: float, seed: int = 0):
    """Gaussian blobs around well-separated centres (distance ~10 vs spread)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 10.0
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(size=(len(y), dim)) * spread
    return x, y.astype(str)


def test_separable_clusters_read_out_perfectly() -> None:
    x, y = _clusters(40, 4, 8, spread=0.5)
    idx = np.random.default_rng(1).permutation(len(y))
    train, test = idx[:100], idx[100:]
    assert linear_readout(x[train], y[train], x[test], y[test], **EVAL_CFG["linear"].to_dict()) == 1.0
    assert knn_hit_rates(x[train], y[train], x[test], y[test], [1, 5]) == {1: 1.0, 5: 1.0}


def test_shuffled_labels_are_near_chance() -> None:
    x, y = _clusters(100, 4, 8, spread=0.5)
    y = np.random.default_rng(2).permutation(y)  # labels no longer follow the clusters
    idx = np.random.default_rng(3).permutation(len(y))
    train, test = idx[:250], idx[250:]
    acc = linear_readout(x[train], y[train], x[test], y[test], **EVAL_CFG["linear"].to_dict())
    top1 = knn_hit_rates(x[train], y[train], x[test], y[test], [1])[1]
    assert 0.12 < acc < 0.40, acc  # chance is 0.25 with 150 test items
    assert 0.12 < top1 < 0.40, top1


def test_knn_hand_made_case() -> None:
    train = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    train_y = np.array(["a", "b", "b", "a"])
    # q0: nearest t0 (a), then t1 (b)        -> hit from k = 2
    # q1: nearest t2 (b), t1 (b), then the tie t0/t3 at cosine 0 broken by row order -> t0 (a): k = 3
    #     (its length 2 must not matter: cosine similarity)
    # q2: nearest t3 (a)                      -> hit at k = 1
    test = np.array([[1.0, 0.1], [0.0, 2.0], [-3.0, 0.0]])
    test_y = np.array(["b", "a", "a"])
    rates = knn_hit_rates(train, train_y, test, test_y, [1, 2, 3, 4])
    assert rates == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0, 4: 1.0})


def test_knn_zero_vector_and_bad_k() -> None:
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    # a zero embedding is equally similar to everything: the first train row wins the tie
    assert knn_hit_rates(train, np.array(["a", "b"]), np.zeros((1, 2)), np.array(["a"]), [1]) == {1: 1.0}
    with pytest.raises(ValueError, match=r"evaluation\.knn\.k: k=3 exceeds the 2 train items"):
        knn_hit_rates(train, np.array(["a", "b"]), train, np.array(["a", "b"]), [1, 3])
    with pytest.raises(ValueError, match="evaluation.knn.k"):
        knn_hit_rates(train, np.array(["a", "b"]), train, np.array(["a", "b"]), [0])


def _write_inputs(tmp_path: Path, x: np.ndarray, y: np.ndarray, split: np.ndarray, drop: int = 0, stages: int = 1):
    """A benchmark table and a run's embeddings of it at ``stages`` checkpoints (stage k: x * (k + 1))."""
    ids = [f"item{i:03d}" for i in range(len(y))]
    bench = pa.table(
        {
            "item_id": ids,
            "label": y.tolist(),
            "label_id": pa.array([int(v) for v in y], pa.int64()),
            "split": split.tolist(),
            "cache_row": pa.array(range(len(y)), pa.int64()),
        }
    )
    write_table(bench, tmp_path / "bench.parquet")
    order = np.random.default_rng(0).permutation(len(y))[drop:]  # embeddings in another row order
    parts = []
    for stage in range(stages):
        n = len(order)
        parts.append(pa.table({
            "after_stage": pa.array([stage] * n, pa.int64()), "step": pa.array([10 * stage] * n, pa.int64()),
            "benchmark": ["blobs"] * n, "item_id": [ids[i] for i in order],
            "embedding": embedding_array(x[order] * (stage + 1)),
        }))
    write_table(pa.concat_tables(parts), tmp_path / "emb.parquet")
    return tmp_path / "emb.parquet", tmp_path / "bench.parquet"


def _evaluate(emb: Path, bench: Path, out: Path, run: dict | None = None):
    return evaluate_run(embeddings=[emb], benchmarks={"blobs": bench}, **EVAL_CFG, out_path=out,
                        run_info=RUN if run is None else run)


def test_evaluate_run_table(tmp_path: Path) -> None:
    x, y = _clusters(20, 3, 6, spread=0.3)
    split = np.where(np.arange(len(y)) % 20 < 14, "train", "test")
    emb, bench = _write_inputs(tmp_path, x, y, split, stages=2)
    table = _evaluate(emb, bench, tmp_path / "eval.parquet")
    assert table.schema.equals(EVAL_SCHEMA, check_metadata=False)
    rows = {(r["after_stage"], r["step"], r["readout"], r["metric"]): r["value"] for r in table.to_pylist()}
    assert rows == {(stage, 10 * stage, readout, metric): 1.0 for stage in (0, 1) for readout, metric in
                    (("linear", "top1_accuracy"), ("knn", "top1_hit_rate"), ("knn", "top5_hit_rate"))}
    assert set(table.column("model").to_pylist()) == {"videomae"}
    assert set(table.column("seed").to_pylist()) == {3}
    assert set(table.column("benchmark").to_pylist()) == {"blobs"}
    meta = read_metadata(tmp_path / "eval.parquet")
    assert json.loads(meta["devcurriculum.chance_top1"]) == {"blobs": pytest.approx(1 / 3)}


def test_evaluate_run_errors(tmp_path: Path) -> None:
    x, y = _clusters(10, 2, 4, spread=0.3)
    split = np.where(np.arange(len(y)) % 10 < 7, "train", "test")
    emb, bench = _write_inputs(tmp_path, x, y, split, drop=2)
    with pytest.raises(ValueError, match=r"embeddings of blobs after stage 0: 2 items have no embedding"):
        _evaluate(emb, bench, tmp_path / "eval.parquet")
    with pytest.raises(KeyError, match="run_info lacks"):
        _evaluate(emb, bench, tmp_path / "eval.parquet", run={"model": "m"})
    assert not (tmp_path / "eval.parquet").exists()
