"""Seed statistics: paired differences between curricula, and what training added over the untrained model.

Every comparison is *paired by seed*: seed ``s`` of curriculum A and seed ``s`` of curriculum B start
from the same initial weights (``init_model`` depends on the model and the seed only), so the
difference ``d_s = A_s - B_s`` removes the seed's shared luck. Over the ``n`` seeds both have:

- ``mean_diff`` = mean of ``d_s``;
- a 95 % Student-t interval ``mean_diff ± t(0.975, n-1) · sd(d) / sqrt(n)`` (``sd`` with ``n - 1``);
- ``p_value``: the two-sided paired t-test of ``mean(d) = 0``.

With one seed there is no spread: the interval and the p-value are NaN. With ``sd(d) = 0`` the interval
collapses onto the mean and the p-value is 1 when the mean is 0, else 0.
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
    "n_seeds", "mean_diff", "ci_low", "ci_high", "p_value",
)  # fmt: skip
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


def compare_curricula(summary: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each curriculum against ``reference``, paired by seed, at every curve point.

    ``summary`` has the columns of ``summary.parquet``. Curricula without the reference for the same
    model are skipped (nothing to pair with); so are seeds that only one side has.
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
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


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
