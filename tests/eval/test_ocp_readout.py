"""The OCP readout (Physion v1.5's protocol) on synthetic features, and a whole OCP run on a tiny set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from devcurriculum.config import OCPReadoutConfig
from devcurriculum.eval.ocp import ocp_accuracy, ocp_classifier, set_chance
from devcurriculum.evalsets.ocp import OCP_SCHEMA, scenario_chance
from devcurriculum.utils.io import provenance, read_metadata, table_from_columns, write_table

SCENARIOS = ("collision", "roll", "towers")


def synthetic(n_per: int, separable: bool, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Features of ``n_per`` items per (scenario, label, split); the label in one feature when ``separable``."""
    rng = np.random.default_rng(seed)
    labels, split, scenarios = [], [], []
    for scenario in SCENARIOS:
        for label in (True, False):
            for part in ("train", "test"):
                labels += [label] * n_per
                split += [part] * n_per
                scenarios += [scenario] * n_per
    y = np.array(labels)
    x = rng.normal(size=(len(y), 8))
    if separable:
        x[:, 3] += np.where(y, 4.0, -4.0)
    return x, y, np.array(split, dtype=object), np.array(scenarios, dtype=object)


def test_a_separable_feature_gives_accuracy_one_in_every_scenario() -> None:
    x, y, split, scenarios = synthetic(20, separable=True)
    accuracy, best_c = ocp_accuracy(x, y, split, scenarios, OCPReadoutConfig())
    assert accuracy == {"collision": 1.0, "roll": 1.0, "towers": 1.0, "overall": 1.0}
    assert best_c in OCPReadoutConfig().c_grid


def test_random_features_give_about_chance() -> None:
    x, y, split, scenarios = synthetic(100, separable=False, seed=3)
    accuracy, _ = ocp_accuracy(x, y, split, scenarios, OCPReadoutConfig())
    assert 0.4 <= accuracy["overall"] <= 0.6, accuracy
    assert accuracy["overall"] == pytest.approx(np.mean([accuracy[s] for s in SCENARIOS]))


def test_overall_is_the_unweighted_mean_of_the_scenarios() -> None:
    x, y, split, scenarios = synthetic(20, separable=True)
    # flip the test labels of one scenario: that scenario scores 0, the others 1
    flip = (scenarios == "roll") & (split == "test")
    y = np.where(flip, ~y, y)
    accuracy, _ = ocp_accuracy(x, y, split, scenarios, OCPReadoutConfig())
    assert accuracy["roll"] == 0.0 and accuracy["overall"] == pytest.approx(2 / 3)


def test_folds_shrink_to_the_smallest_class_and_one_class_is_an_error() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), np.array([True, True, True, False, False, False, False])
    _, best_c = ocp_classifier(x, y, OCPReadoutConfig(folds=5))  # 3 positives: 3 folds
    assert best_c > 0
    with pytest.raises(ValueError, match="needs both labels"):
        ocp_classifier(x, np.ones(7, bool), OCPReadoutConfig())
    with pytest.raises(ValueError, match=r"at least 2 train items of each label .* got no touch 6, touch 1"):
        ocp_classifier(x, np.array([True] + [False] * 6), OCPReadoutConfig())


def test_chance_is_each_scenarios_test_majority_and_overall_their_mean(tmp_path: Path) -> None:
    import pandas as pd

    items = pd.DataFrame({"scenario": ["a"] * 4 + ["b"] * 4, "label": [1, 1, 1, 0, 1, 0, 1, 0],
                          "split": ["test"] * 4 + ["test", "test", "train", "train"]})
    chance = scenario_chance(items)
    assert chance == {"a": 0.75, "b": 0.5}
    table = table_from_columns({"item_id": ["i"], "scenario": ["a"], "label": [True], "split": ["test"],
                                "cache_row": [0], "frame_indices": [[0]]}, OCP_SCHEMA)
    write_table(table, tmp_path / "s.parquet", metadata=provenance("prepare_ocp", chance=chance))
    assert set_chance("demo_ocp", tmp_path / "s.parquet") == {"demo_ocp:a": 0.75, "demo_ocp:b": 0.5,
                                                              "demo_ocp:overall": 0.625}
    assert "devcurriculum.chance" in read_metadata(tmp_path / "s.parquet")
    assert isinstance(table.schema.field("frame_indices").type, pa.ListType)
