"""The learning check printed at the end of make demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devcurriculum.eval.learning import learner_verdicts, mixed_loss_ratios, report


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
