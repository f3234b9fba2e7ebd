"""Few-shot readouts: stratified, reproducible, nested draws; values, intervals and the table."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from devcurriculum.config import FewShotConfig, KnnReadoutConfig, LinearReadoutConfig
from devcurriculum.eval.few_shot import FEW_SHOT_SCHEMA, few_shot_draw, few_shot_run, few_shot_values
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import read_metadata, read_table, table_from_columns, write_table

LABELS = np.array(["cat"] * 12 + ["dog"] * 7 + ["emu"] * 9, dtype=object)


@pytest.mark.parametrize("shots", [1, 3, 7])
def test_draws_hold_exactly_n_items_of_every_class(shots: int) -> None:
    for repeat in range(5):
        idx = few_shot_draw(LABELS, shots, repeat, seed=0)
        assert len(idx) == len(set(idx.tolist())) == 3 * shots
        classes, counts = np.unique(LABELS[idx], return_counts=True)
        assert classes.tolist() == ["cat", "dog", "emu"] and counts.tolist() == [shots] * 3


def test_draws_are_reproducible_and_differ_between_repeats_and_seeds() -> None:
    first = few_shot_draw(LABELS, 5, repeat=2, seed=11)
    assert np.array_equal(first, few_shot_draw(LABELS.copy(), 5, repeat=2, seed=11))
    assert not np.array_equal(first, few_shot_draw(LABELS, 5, repeat=3, seed=11))
    assert not np.array_equal(first, few_shot_draw(LABELS, 5, repeat=2, seed=12))


def test_draws_are_nested_over_shots() -> None:
    for repeat in range(4):
        draws = [set(few_shot_draw(LABELS, n, repeat, seed=3).tolist()) for n in (1, 2, 5, 7)]
        for small, large in itertools.pairwise(draws):
            assert small < large


def test_a_class_with_too_few_items_is_named() -> None:
    with pytest.raises(ValueError, match=r"class 'dog' has 7 train item\(s\), fewer than 8 shots"):
        few_shot_draw(LABELS, 8, 0, seed=0)


def _features(labels: np.ndarray, separable: bool, rng: np.random.Generator) -> np.ndarray:
    codes = {c: i for i, c in enumerate(sorted(set(labels.tolist())))}
    x = rng.normal(size=(len(labels), 6))
    if separable:  # one direction per class: separable for the linear probe and for cosine kNN
        x[np.arange(len(labels)), [codes[c] for c in labels]] += 10.0
    return x


def test_separable_features_score_one_and_the_interval_brackets_the_mean() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array(["a", "b", "c", "d"], dtype=object), 20)
    split = np.where(np.arange(80) % 20 < 12, "train", "test").astype(object)
    cfg = FewShotConfig(shots=(1, 4), repeats=4, seed=0)
    rows = few_shot_values(_features(labels, True, rng), labels, split, few_shot=cfg, linear=LinearReadoutConfig(),
                           knn=KnnReadoutConfig(k=(1, 5)))
    by = {(r["readout"], r["metric"], r["shots"]): r for r in rows}
    assert set(by) == {("linear_few_shot", "top1_accuracy", 1), ("knn_few_shot", "top1_hit_rate", 1),
                       ("linear_few_shot", "top1_accuracy", 4), ("knn_few_shot", "top1_hit_rate", 4),
                       ("knn_few_shot", "top5_hit_rate", 4)}  # k=5 needs at least 5 train items: not at 1 shot x 4
    assert by[("knn_few_shot", "top1_hit_rate", 1)]["value"] == 1.0
    assert by[("linear_few_shot", "top1_accuracy", 4)]["value"] >= 0.95  # SGD on 16 items of 4 classes
    noisy = few_shot_values(_features(labels, False, rng), labels, split, few_shot=cfg, linear=LinearReadoutConfig(),
                            knn=KnnReadoutConfig(k=(1,)))
    for row in noisy:
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
        assert 0.0 <= row["value"] <= 0.6  # chance is 0.25


def test_few_shot_run_writes_one_row_per_stage_benchmark_readout_and_shots(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.array(["x", "y"], dtype=object), 10)
    split = np.tile(np.array(["train"] * 6 + ["test"] * 4, dtype=object), 2)
    ids = [f"i{k}" for k in range(20)]
    bench = tmp_path / "bench.parquet"
    write_table(pa.table({"item_id": ids, "label": labels.tolist(), "split": split.tolist(), "cache_row": range(20)}),
                bench)
    stages = [(0, 0), (1, 4)]
    x = np.concatenate([_features(labels, True, rng) for _ in stages]).astype(np.float32)
    emb = table_from_columns(
        {"after_stage": [s for s, _ in stages for _ in ids], "step": [t for _, t in stages for _ in ids],
         "benchmark": ["b"] * 40, "item_id": ids * 2, "embedding": embedding_array(x)},
        pa.schema([("after_stage", pa.int64()), ("step", pa.int64()), ("benchmark", pa.string()),
                   ("item_id", pa.string()), ("embedding", pa.list_(pa.float32(), 6))]),
    )
    write_table(emb, tmp_path / "emb.parquet")
    run = {"model": "m", "curriculum": "c", "seed": 2, "data_fraction": 0.5, "fraction_budget": "steps"}
    few_shot_run(embeddings=[tmp_path / "emb.parquet"], benchmarks={"b": bench},
                 few_shot=FewShotConfig(shots=(1, 3), repeats=2), linear=LinearReadoutConfig(),
                 knn=KnnReadoutConfig(k=(1,)), out_path=tmp_path / "fs.parquet", run_info=run)
    table = read_table(tmp_path / "fs.parquet")
    assert table.schema.names == FEW_SHOT_SCHEMA.names
    frame = table.to_pandas()
    assert len(frame) == 2 * 2 * 2  # stages x shots x (linear, knn top1)
    assert set(frame["shots"]) == {1, 3} and set(frame["readout"]) == {"linear_few_shot", "knn_few_shot"}
    assert '"data_fraction": 0.5' in read_metadata(tmp_path / "fs.parquet")["devcurriculum.run"]
    with pytest.raises(ValueError, match=r"evaluation.few_shot on benchmark 'b' .*class 'x' has 6 train item"):
        few_shot_run(embeddings=[tmp_path / "emb.parquet"], benchmarks={"b": bench},
                     few_shot=FewShotConfig(shots=(7,), repeats=1), linear=LinearReadoutConfig(),
                     knn=KnnReadoutConfig(k=(1,)), out_path=tmp_path / "fs2.parquet", run_info=run)
