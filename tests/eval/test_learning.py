"""The learning check printed at the end of make demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devcurriculum.eval.learning import (
    LEARNS,
    NOT_LEARNING,
    WITHIN_NOISE,
    LearnerVerdict,
    learner_verdicts,
    mixed_loss_ratios,
    report,
)


def _summary() -> pd.DataFrame:
    rows = []
    for seed in (0, 1, 2):
        for bench, gains in (("a", {"dev": 0.10, "mixed": 0.08}), ("b", {"dev": 0.20, "mixed": 0.01})):
            for cur, gain in gains.items():
                rows.append(("m", cur, seed, 0, bench, "linear", "top1_accuracy", 0.5 + 0.01 * seed))
                rows.append(("m", cur, seed, 3, bench, "linear", "top1_accuracy", 0.5 + 0.01 * seed + gain))
    return pd.DataFrame(rows, columns=["model", "curriculum", "seed", "after_stage", "benchmark", "readout", "metric",
                                       "value"])


def test_a_learner_learns_where_every_curriculum_clears_the_margin() -> None:
    (verdict,) = learner_verdicts(_summary())
    # benchmark b has the larger best gain (0.20) but its worst curriculum gains only 0.01: a is chosen
    assert verdict.benchmark == "a" and verdict.min_margin == pytest.approx(0.08) and verdict.learns
    assert verdict.untrained == pytest.approx(np.mean([0.50, 0.51, 0.52])) and verdict.n_seeds == 3


def test_mixed_loss_ratio_uses_single_stage_runs_only() -> None:
    steps = np.arange(60)
    mixed = pd.DataFrame({"model": "m", "curriculum": "mixed", "seed": 0, "step": steps, "stage": 0,
                          "loss": np.where(steps < 20, 1.0, np.where(steps >= 40, 0.8, 0.9))})
    dev = mixed.assign(curriculum="dev", stage=steps // 20)
    ratios = mixed_loss_ratios(pd.concat([mixed, dev]))
    assert ratios["curriculum"].tolist() == ["mixed"] and ratios["ratio"].tolist() == pytest.approx([0.8])
    assert "loss m/mixed: last 20 / first 20 steps = 0.800" in report(_summary(), pd.concat([mixed, dev]))


def test_voe_rows_are_reported_but_never_a_verdict() -> None:
    summary = _summary()
    voe = []
    for seed in (0, 1, 2):
        for cur in ("dev", "mixed"):
            voe.append(("m", cur, seed, 0, "physics:overall", "voe", "relative_accuracy_mean", 0.4 + 0.01 * seed))
            voe.append(("m", cur, seed, 3, "physics:overall", "voe", "relative_accuracy_mean", 0.9))
            voe.append(("m", cur, seed, 3, "physics:overall", "voe", "hedges_g_relative_accuracy_mean",
                        12.5 if cur == "dev" else 12.0))
    voe.append(("m", "init", 7, 0, "physics:overall", "voe", "relative_accuracy_mean", 0.37))  # an extra untrained init
    both = pd.concat([summary, pd.DataFrame(voe, columns=summary.columns)], ignore_index=True)
    (verdict,) = learner_verdicts(both)
    assert verdict.readout == "linear" and verdict.min_margin == pytest.approx(0.08)  # the +0.5 VoE gain is not it
    text = report(both)
    assert "  m          physics:overall: untrained 0.400 (4 init(s)) -> dev 0.900 (g +12.50), mixed 0.900 (g +12.00)" in text
    assert "chance 0.5" in text


def _noisy(gains: dict[str, list[float]]) -> pd.DataFrame:
    """One benchmark; per curriculum a gain per seed (the untrained values differ by seed too)."""
    rows = []
    for cur, per_seed in gains.items():
        for seed, gain in enumerate(per_seed):
            rows.append(("m", cur, seed, 0, "a", "linear", "top1_accuracy", 0.4 + 0.02 * seed))
            rows.append(("m", cur, seed, 3, "a", "linear", "top1_accuracy", 0.4 + 0.02 * seed + gain))
    return pd.DataFrame(rows, columns=["model", "curriculum", "seed", "after_stage", "benchmark", "readout", "metric",
                                       "value"])


def test_a_gain_within_the_seeds_spread_is_no_verdict_either_way() -> None:
    # pooled over both curricula: mean 0.085, t interval (df 5) about [0.037, 0.133]: above 0, not above 0.05
    (verdict,) = learner_verdicts(_noisy({"dev": [0.00, 0.06, 0.12], "mixed": [0.10, 0.11, 0.12]}))
    assert verdict.min_margin == pytest.approx(0.06) and verdict.gain == pytest.approx(0.085)
    assert verdict.ci_low < 0.05 < verdict.ci_high
    assert verdict.verdict == WITHIN_NOISE and not verdict.learns
    # the same means with a tight spread: the gain is beyond 0.05
    (tight,) = learner_verdicts(_noisy({"dev": [0.059, 0.06, 0.061], "mixed": [0.10, 0.11, 0.12]}))
    assert tight.ci_low > 0.05 and tight.verdict == LEARNS
    # every run clearly below the bar: does not learn
    (flat,) = learner_verdicts(_noisy({"dev": [0.00, 0.01, 0.02], "mixed": [0.00, 0.01, 0.02]}))
    assert flat.max_ci_high < 0.05 and flat.verdict == NOT_LEARNING
    assert "within seed noise" in report(_noisy({"dev": [0.00, 0.06, 0.12]}))


def test_a_verdict_moves_only_when_a_run_moves_by_more_than_the_seeds_spread() -> None:
    """A float-order change moves each run about as a new seed does: a verdict away from its boundaries
    stays when every run shifts by a few hundredths."""
    base = {"dev": [0.00, 0.06, 0.12], "mixed": [0.02, 0.08, 0.10]}
    rng = np.random.default_rng(0)
    for _ in range(50):
        shifted = {c: list(np.asarray(g) + rng.normal(0, 0.01, size=3)) for c, g in base.items()}
        assert learner_verdicts(_noisy(shifted))[0].verdict == WITHIN_NOISE


def test_one_seed_gives_no_interval_and_never_a_learning_verdict() -> None:
    (one,) = learner_verdicts(_noisy({"dev": [0.3]}))
    assert one.n_seeds == 1 and np.isnan(one.ci_low) and one.verdict == WITHIN_NOISE
    assert LearnerVerdict("m", "a", "linear", "x", 0.5, {}, 0.3, 1).verdict == WITHIN_NOISE
