"""Seed statistics: paired differences between curricula, and what training added over the untrained model.

Every comparison is *paired by seed*: seed ``s`` of curriculum A and seed ``s`` of curriculum B start
from the same initial weights (``init_model`` depends on the model and the seed only), so the
difference ``d_s = A_s - B_s`` removes the seed's shared luck. Over the ``n`` seeds both have:

- ``mean_diff`` = mean of ``d_s``;
- a 95 % Student-t interval ``mean_diff ± t(0.975, n-1) · sd(d) / sqrt(n)`` (``sd`` with ``n - 1``);
- ``p_value``: the two-sided paired t-test of ``mean(d) = 0``.

With one seed there is no spread: the interval and the p-value are NaN. With ``sd(d) = 0`` the interval
collapses onto the mean and the p-value is 1 when the mean is 0, else 0.

Many comparisons: a study makes one test per learner x benchmark x readout x metric x stage x
curriculum, dozens per learner, and at 3 seeds a paired t-test has 2 degrees of freedom, so some raw
``p_value`` below 0.05 is expected by chance alone. ``p_holm`` is the Holm (1979) step-down adjusted
p-value within the **family of one learner** (``model``): every comparison of that learner with a
p-value, over all benchmarks, readouts, metrics, stages >= 1 and curricula; ``n_tests`` is the family's
size. Holm controls the family-wise error rate (the chance of any false positive among the family)
under any dependence between the tests, which matters here: the kNN ks, the stages of one run and the
curricula compared with one reference are strongly correlated. Rows that are no test get NaN: one
seed (no p-value) and ``after_stage`` 0, where every curriculum has the same untrained weights by
construction (docs/evaluation.md "Many comparisons").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: the columns that identify one curve point apart from the curriculum and seed
POINT_KEYS = ("model", "benchmark", "readout", "metric", "after_stage")
COMPARISON_COLUMNS = (
    "model", "benchmark", "readout", "metric", "after_stage", "curriculum", "reference",
    "n_seeds", "mean_diff", "ci_low", "ci_high", "p_value", "p_holm", "n_tests",
)  # fmt: skip
#: the columns whose rows form one family of the multiple-comparison adjustment (one learner)
FAMILY_KEYS = ("model",)
CONFIDENCE = 0.95


def paired_difference(diffs: Sequence[float] | np.ndarray | pd.Series, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """``(mean, ci_low, ci_high, p_value)`` of paired differences (see the module docstring)."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        raise ValueError("paired_difference needs at least one difference")
    mean = float(d.mean())
    if d.size == 1:
        return mean, math.nan, math.nan, math.nan
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return mean, mean, mean, 1.0 if mean == 0.0 else 0.0
    half = float(stats.t.ppf(0.5 + confidence / 2, d.size - 1)) * sd / math.sqrt(d.size)
    t_stat = mean / (sd / math.sqrt(d.size))
    p_value = float(2 * stats.t.sf(abs(t_stat), d.size - 1))
    return mean, mean - half, mean + half, p_value


def holm_adjust(p_values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family, in the input order (float64).

    With the m p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of the i-th
    is ``min(1, max_{j <= i} (m - j + 1) * p_(j))``: the smallest family-wise level at which Holm's
    procedure rejects it. Rejecting every ``p_holm <= alpha`` keeps the chance of any false rejection in
    the family at most ``alpha`` whatever the dependence between the tests. NaN entries are no test:
    they stay NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"holm_adjust needs a 1-D sequence of p-values, got shape {p.shape}")
    tested = ~np.isnan(p)
    if ((p[tested] < 0) | (p[tested] > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[tested][(p[tested] < 0) | (p[tested] > 1)][:5].tolist()}")
    out = np.full(p.shape, np.nan)
    values = p[tested]
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    scaled = (m - np.arange(m)) * values[order]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out[tested] = adjusted
    return out


def adjust_families(comparisons: pd.DataFrame) -> pd.DataFrame:
    """``comparisons`` with ``p_holm`` and ``n_tests``: Holm within each learner's family (module docstring).

    A row is in its family when it has a p-value and ``after_stage >= 1``; other rows get NaN and 0.
    """
    out = comparisons.copy()
    tested = out["p_value"].notna() & (out["after_stage"] > 0)
    p_holm = np.full(len(out), np.nan)
    n_tests = np.zeros(len(out), dtype=np.int64)
    for _, index in out[tested].groupby(list(FAMILY_KEYS), sort=False).groups.items():
        positions = out.index.get_indexer(index)
        p_holm[positions] = holm_adjust(out["p_value"].to_numpy(np.float64)[positions])
        n_tests[positions] = len(positions)
    out["p_holm"] = p_holm
    out["n_tests"] = n_tests
    return out


def compare_curricula(summary: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each curriculum against ``reference``, paired by seed, at every curve point.

    ``summary`` has the columns of ``summary.parquet``. Curricula without the reference for the same
    model are skipped (nothing to pair with); so are seeds that only one side has. ``p_holm`` and
    ``n_tests`` adjust the p-values for the many comparisons of each learner (:func:`adjust_families`).
    """
    rows = []
    for key, point in summary.groupby(list(POINT_KEYS), sort=True):
        by_curriculum = point.pivot_table(index="seed", columns="curriculum", values="value", aggfunc="first")
        if reference not in by_curriculum:
            continue
        for curriculum in by_curriculum.columns:
            if curriculum == reference:
                continue
            pair = by_curriculum[[curriculum, reference]].dropna()
            if pair.empty:
                continue
            mean, low, high, p = paired_difference(pair[curriculum] - pair[reference])
            rows.append((*key, curriculum, reference, len(pair), mean, low, high, p))
    return adjust_families(pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS[:-2])))


def learning_margins(summary: pd.DataFrame) -> pd.DataFrame:
    """What training added: the final stage minus the untrained model (after_stage 0), paired by seed.

    One row per (model, curriculum, benchmark, readout, metric): ``untrained`` and ``trained`` means,
    ``margin`` (= mean_diff), its interval and p-value, ``n_seeds``.
    """
    rows = []
    keys = ["model", "curriculum", "benchmark", "readout", "metric"]
    for key, run in summary.groupby(keys, sort=True):
        final = int(run["after_stage"].max())
        if final == 0:
            continue
        wide = run.pivot_table(index="seed", columns="after_stage", values="value", aggfunc="first")[[0, final]].dropna()
        if wide.empty:
            continue
        mean, low, high, p = paired_difference(wide[final] - wide[0])
        rows.append((*key, final, len(wide), float(wide[0].mean()), float(wide[final].mean()), mean, low, high, p))
    return pd.DataFrame(
        rows,
        columns=[*keys, "final_stage", "n_seeds", "untrained", "trained", "margin", "ci_low", "ci_high", "p_value"],
    )
