"""Seed statistics on constructed numbers: known mean differences and known intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from devcurriculum.eval.statistics import compare_curricula, learning_margins, paired_difference


def test_paired_difference_matches_the_t_interval_by_hand() -> None:
    # d = [1, 2, 3]: mean 2, sd 1, t(0.975, 2) = 4.302652729749464, half width 4.3027 / sqrt(3)
    mean, low, high, p = paired_difference([1.0, 2.0, 3.0])
    half = 4.302652729749464 / math.sqrt(3)
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-12)
    # t = 2 / (1 / sqrt 3) = 3.4641; two-sided p with 2 degrees of freedom = 0.0741799
    assert p == pytest.approx(0.07417990022744853, rel=1e-9)


def test_paired_difference_edge_cases() -> None:
    mean, low, high, p = paired_difference([0.25])
    assert mean == 0.25 and math.isnan(low) and math.isnan(high) and math.isnan(p)
    assert paired_difference([0.1, 0.1, 0.1]) == pytest.approx((0.1, 0.1, 0.1, 0.0))
    assert paired_difference([0.0, 0.0]) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        paired_difference([])


def _summary() -> pd.DataFrame:
    rows = []
    # seed effects shared by both curricula (pairing must remove them): +0.0, +0.3, -0.2
    for seed, shift in zip((0, 1, 2), (0.0, 0.3, -0.2), strict=True):
        for stage, (dev, mixed) in enumerate(((0.5, 0.5), (0.6, 0.55), (0.7, 0.6))):
            extra = (0.01, -0.01, 0.0)[seed] if stage else 0.0
            rows.append(("m", "developmental", seed, stage, "b", "linear", "acc", dev + shift + extra))
            rows.append(("m", "mixed", seed, stage, "b", "linear", "acc", mixed + shift))
    return pd.DataFrame(rows, columns=["model", "curriculum", "seed", "after_stage", "benchmark", "readout", "metric", "value"])


def test_compare_curricula_is_paired_by_seed() -> None:
    table = compare_curricula(_summary(), reference="mixed")
    assert set(table["curriculum"]) == {"developmental"} and (table["reference"] == "mixed").all()
    final = table[table["after_stage"] == 2].iloc[0]
    # diffs 0.11, 0.09, 0.10: mean 0.10, sd 0.01 despite seed shifts of 0.5
    assert final["n_seeds"] == 3 and final["mean_diff"] == pytest.approx(0.10)
    half = 4.302652729749464 * 0.01 / math.sqrt(3)
    assert (final["ci_low"], final["ci_high"]) == pytest.approx((0.10 - half, 0.10 + half))
    untrained = table[table["after_stage"] == 0].iloc[0]
    assert untrained["mean_diff"] == 0.0 and untrained["p_value"] == 1.0
    inside = table.dropna(subset=["ci_low"])
    assert ((inside["ci_low"] <= inside["mean_diff"]) & (inside["mean_diff"] <= inside["ci_high"])).all()


def test_learning_margins_pair_final_with_untrained() -> None:
    margins = learning_margins(_summary()).set_index("curriculum")
    assert margins.loc["mixed", "margin"] == pytest.approx(0.10)
    assert margins.loc["mixed", "untrained"] == pytest.approx(np.mean([0.5, 0.8, 0.3]))
    assert margins.loc["developmental", "margin"] == pytest.approx(0.20)
    assert (margins["final_stage"] == 2).all() and (margins["n_seeds"] == 3).all()
