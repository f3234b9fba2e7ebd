"""Seed statistics on constructed numbers: known mean differences and known intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from devcurriculum.eval.statistics import (
    adjust_families,
    compare_curricula,
    holm_adjust,
    learning_margins,
    paired_difference,
)


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


def test_holm_adjust_by_hand() -> None:
    # sorted: 0.005, 0.01, 0.03, 0.04 (m = 4) -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-12)
    # NaN is no test: it stays NaN and m = 2
    nan, a, b = holm_adjust([math.nan, 0.2, 0.5])
    assert math.isnan(nan) and (a, b) == pytest.approx((0.4, 0.5))
    # capped at 1; ties get the same value
    assert holm_adjust([0.4, 0.6, 0.7]).tolist() == [1.0, 1.0, 1.0]
    assert holm_adjust([0.01, 0.01, 0.5]) == pytest.approx([0.03, 0.03, 0.5])
    assert holm_adjust([]).size == 0 and holm_adjust([0.2]).tolist() == [0.2]
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        holm_adjust([0.5, 1.5])


def _holm_rejects(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down procedure as defined: test the smallest p at alpha/m, the next at alpha/(m-1), ... stop
    at the first that fails."""
    rejected = np.zeros(p.size, dtype=bool)
    for step, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (p.size - step):
            break
        rejected[i] = True
    return rejected


def test_holm_adjusted_values_reject_exactly_what_the_step_down_procedure_rejects() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = np.concatenate([rng.uniform(0, 0.02, rng.integers(0, 5)), rng.uniform(0, 1, rng.integers(1, 30))])
        adjusted = holm_adjust(p)
        assert (adjusted >= p).all() and (adjusted <= 1).all()
        for alpha in (0.01, 0.05, 0.1, 0.2):
            assert ((adjusted <= alpha) == _holm_rejects(p, alpha)).all()


def test_holm_is_at_least_as_strict_as_bh_and_at_most_bonferroni() -> None:
    # scipy's Benjamini-Hochberg controls the false discovery rate, a weaker guarantee: never above Holm
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.2, 40)
    holm = holm_adjust(p)
    assert (false_discovery_control(p, method="bh") <= holm + 1e-15).all()
    assert (holm <= np.minimum(p * p.size, 1.0) + 1e-15).all()


def test_comparisons_are_adjusted_per_learner_over_stages_benchmarks_and_curricula() -> None:
    rows = []
    for model in ("m", "n"):
        table = _summary().assign(model=model)
        extra = table[table["curriculum"] == "developmental"].assign(curriculum="shuffled", benchmark="c")
        rows += [table, extra.assign(value=extra["value"] + np.where(extra["seed"] == 1, 0.05, 0.0))]
    table = compare_curricula(pd.concat([*rows, _summary().assign(model="n", benchmark="c")]), reference="mixed")
    assert list(table.columns[-3:]) == ["p_value", "p_holm", "n_tests"]
    for _model, family in table.groupby("model"):
        tested = family[family["after_stage"] > 0]
        # one family per learner: its curricula x benchmarks x stages >= 1, adjusted together
        assert (tested["n_tests"] == len(tested)).all()
        assert tested["p_holm"].to_numpy() == pytest.approx(holm_adjust(tested["p_value"].to_numpy()))
        untrained = family[family["after_stage"] == 0]
        assert untrained["p_holm"].isna().all() and (untrained["n_tests"] == 0).all()
    # m: developmental on b at stages 1, 2 (its shuffled runs on c have no reference there to pair with);
    # n: that, plus shuffled and developmental on c
    assert table.groupby("model")["n_tests"].max().to_dict() == {"m": 2, "n": 6}


def test_adjust_families_leaves_untested_rows_out() -> None:
    frame = pd.DataFrame({"model": ["m", "m", "m"], "after_stage": [1, 1, 2], "p_value": [0.01, math.nan, 0.04]})
    out = adjust_families(frame)
    assert out["p_holm"].tolist()[0] == pytest.approx(0.02) and math.isnan(out["p_holm"][1])
    assert out["p_holm"][2] == pytest.approx(0.04) and out["n_tests"].tolist() == [2, 0, 2]
    empty = adjust_families(frame.iloc[:0])
    assert empty.empty and {"p_holm", "n_tests"} <= set(empty.columns)
