"""Did training teach anything? The check ``make demo`` prints at its end.

For every learner and every (benchmark, readout metric): the untrained model's mean over seeds, each
curriculum's final-stage mean and margin (final - untrained, paired by seed), and the **gain**: the
mean of every (curriculum, seed) pair's margin with its 95 % t interval (pairs pooled over curricula:
"did training teach anything", whichever order it came in). The verdict has three outcomes, so that
it does not hang on the last digits of a machine's float kernels (a new reduction order moves a run
about as much as a new seed does, so a verdict must hold across the seeds' spread):

- ``LEARNS``: on some benchmark and readout the gain's whole interval lies above ``THRESHOLD``
  (0.05 absolute): training added more than 0.05, beyond the seeds' spread;
- ``does NOT learn``: on every benchmark and readout the whole interval lies below ``THRESHOLD``;
- ``within seed noise``: neither (one seed gives no interval, so never more than this).

The learner's line shows the benchmark and readout with the highest lower end. The pairs of two
curricula share their seed's untrained model, so they are not independent: the interval is a little
narrower than it should be, the price of a verdict over all of a learner's runs. Only the representation readouts
(linear, kNN) count: the violation-of-expectation rows (``readout: voe``) ask another question and
are reported on a line of their own (relative accuracy at the pre-registered context, mean over
properties, chance 0.5, with Hedges' g against the untrained networks), never picked as a learner's best. And for every run whose curriculum has
one stage throughout (``mixed``: one data distribution, so its loss is comparable from start to end),
the mean loss of its last 20 steps over its first 20.

    python -m devcurriculum.eval.learning results/summary.parquet [--metrics-glob 'results/runs/*/*/*/metrics.parquet']
"""

from __future__ import annotations

import argparse
import glob
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from devcurriculum.config import INIT
from devcurriculum.eval.statistics import learning_margins, paired_difference
from devcurriculum.utils.io import read_table

THRESHOLD = 0.05
LEARNS, NOT_LEARNING, WITHIN_NOISE = "LEARNS", "does NOT learn", "within seed noise"
LOSS_WINDOW = 20
#: readouts of the VoE suite (eval.voe): reported, never a learner's verdict
VOE_READOUT = "voe"
VOE_METRIC = "relative_accuracy_mean"
VOE_EFFECT = "hedges_g_relative_accuracy_mean"


@dataclass(frozen=True)
class LearnerVerdict:
    """One learner's best (benchmark, readout): the one whose gain has the highest lower end."""

    model: str
    benchmark: str
    readout: str
    metric: str
    untrained: float
    trained: dict[str, float]
    min_margin: float
    n_seeds: int
    #: the pooled gain over every (curriculum, seed) pair and its 95 % t interval (NaN: one pair)
    gain: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    #: the highest upper end over every benchmark and readout (below THRESHOLD everywhere: does not learn)
    max_ci_high: float = math.nan

    @property
    def verdict(self) -> str:
        """``LEARNS``, ``does NOT learn`` or ``within seed noise`` (the module docstring)."""
        if self.ci_low > THRESHOLD:
            return LEARNS
        if self.max_ci_high < THRESHOLD:
            return NOT_LEARNING
        return WITHIN_NOISE

    @property
    def learns(self) -> bool:
        return self.verdict == LEARNS


def seed_gains(summary: pd.DataFrame) -> pd.DataFrame:
    """Final stage minus untrained per (model, benchmark, readout, metric, curriculum, seed)."""
    rows = []
    keys = ["model", "benchmark", "readout", "metric", "curriculum"]
    for key, run in summary.groupby(keys, sort=True):
        final = int(run["after_stage"].max())
        if final == 0:
            continue
        wide = run.pivot_table(index="seed", columns="after_stage", values="value", aggfunc="first")[[0, final]].dropna()
        gains = wide[final].to_numpy(np.float64) - wide[0].to_numpy(np.float64)
        rows += [(*key, int(seed), float(g)) for seed, g in zip(wide.index, gains, strict=True)]
    return pd.DataFrame(rows, columns=[*keys, "seed", "gain"])


def _rank(stats: tuple[float, float, float, float]) -> tuple[float, float]:
    """A (mean, low, high, p) gain by its lower end (none with one pair: last), then its mean."""
    mean, low, _, _ = stats
    return (low if math.isfinite(low) else -math.inf, mean)


def learner_verdicts(summary: pd.DataFrame) -> list[LearnerVerdict]:
    """Per learner, the (benchmark, readout metric) whose pooled gain has the highest lower end."""
    rows = summary[(summary["readout"] != VOE_READOUT) & (summary["curriculum"] != INIT)]
    if "data_fraction" in rows:  # the whole-corpus runs' full readouts (not a sweep's fractions or few shots)
        rows = rows[(rows["data_fraction"] == 1.0) & rows["shots"].isna()]
    margins = learning_margins(rows)
    gains = seed_gains(rows)
    verdicts = []
    for model, per_model in gains.groupby("model", sort=True):
        pooled = {key: paired_difference(g["gain"].to_numpy()) for key, g in
                  per_model.groupby(["benchmark", "readout", "metric"], sort=True)}
        benchmark, readout, metric = max(pooled.items(), key=lambda item: _rank(item[1]))[0]
        gain, low, high, _ = pooled[(benchmark, readout, metric)]
        best = margins[(margins["model"] == model) & (margins["benchmark"] == benchmark)
                       & (margins["readout"] == readout) & (margins["metric"] == metric)]
        highs = [h for _, _, h, _ in pooled.values()]
        verdicts.append(LearnerVerdict(
            str(model), str(benchmark), str(readout), str(metric), float(best["untrained"].mean()),
            {str(c): float(v) for c, v in zip(best["curriculum"], best["trained"], strict=True)},
            float(best["margin"].min()), int(best["n_seeds"].min()),
            gain=float(gain), ci_low=float(low), ci_high=float(high),
            max_ci_high=max(highs) if all(math.isfinite(h) for h in highs) else math.nan,
        ))
    return verdicts


def mixed_loss_ratios(metrics: pd.DataFrame, window: int = LOSS_WINDOW) -> pd.DataFrame:
    """Mean loss of the last ``window`` steps over the first ``window``, for single-stage (mixed) runs."""
    rows = []
    for (model, curriculum, seed), run in metrics.groupby(["model", "curriculum", "seed"], sort=True):
        if run["stage"].nunique() != 1 or len(run) < 2 * window:
            continue
        loss = run.sort_values("step")["loss"].to_numpy()
        rows.append((model, curriculum, seed, float(loss[:window].mean()), float(loss[-window:].mean())))
    frame = pd.DataFrame(rows, columns=["model", "curriculum", "seed", "first", "last"])
    return frame.assign(ratio=frame["last"] / frame["first"])


def voe_lines(summary: pd.DataFrame) -> list[str]:
    """Per learner and VoE set: relative accuracy (mean-window surprise, pre-registered context, mean over
    properties), the untrained networks -> each curriculum's final stage, and its Hedges' g against them."""
    voe = summary[(summary["readout"] == VOE_READOUT) & summary["benchmark"].str.endswith(":overall")]
    accuracy = voe[voe["metric"] == VOE_METRIC]
    if accuracy.empty:
        return []
    lines = ["Violation of expectation (relative accuracy on the mean surprise, pre-registered context, mean over "
             "properties and seeds; chance 0.5; g = Hedges' g of the final stage against the untrained networks):"]
    for (model, bench), rows in accuracy.groupby(["model", "benchmark"], sort=True):
        untrained = rows[rows["after_stage"] == 0].drop_duplicates(["seed"])["value"]
        last = rows.groupby(["curriculum", "seed"])["after_stage"].transform("max")
        final = rows[(rows["after_stage"] == last) & (last > 0)]
        effects = voe[(voe["model"] == model) & (voe["benchmark"] == bench) & (voe["metric"] == VOE_EFFECT)]
        parts = []
        for curriculum, runs in final.groupby("curriculum", sort=True):
            g = effects[(effects["curriculum"] == curriculum) & (effects["after_stage"] == runs["after_stage"].max())]
            effect = float(g["value"].iloc[0]) if len(g) else math.nan
            note = f" (g {effect:+.2f})" if math.isfinite(effect) else (" (g undefined: no spread)" if len(g) else "")
            parts.append(f"{curriculum} {runs['value'].mean():.3f}{note}")
        lines.append(f"  {model:<10} {bench}: untrained {untrained.mean():.3f} ({len(untrained)} init(s)) -> "
                     + ", ".join(parts))
    return lines


def report(summary: pd.DataFrame, metrics: pd.DataFrame | None = None) -> str:
    """The printed check: one block per learner, then the loss ratios of mixed runs."""
    lines = [f"Learning check (final stage vs untrained, paired by seed; a learner LEARNS when the 95% interval "
             f"of its gain, pooled over curricula and seeds, lies above {THRESHOLD:.2f} on some benchmark and "
             f"readout; it does NOT learn when it lies below {THRESHOLD:.2f} on all of them; else the gain is within "
             "seed noise):"]
    for v in learner_verdicts(summary):
        trained = ", ".join(f"{c} {x:.3f}" for c, x in sorted(v.trained.items()))
        lines.append(f"  {v.model:<10} {v.benchmark} {v.readout}/{v.metric}: untrained {v.untrained:.3f} -> "
                     f"{trained}; gain {v.gain:+.3f} (95% interval {v.ci_low:+.3f} to {v.ci_high:+.3f}, "
                     f"{v.n_seeds} seed(s) x {len(v.trained)} curricula; smallest curriculum {v.min_margin:+.3f}): "
                     f"{v.verdict}")
    lines.extend(voe_lines(summary))
    if metrics is not None and len(metrics):
        ratios = mixed_loss_ratios(metrics)
        for (model, curriculum), runs in ratios.groupby(["model", "curriculum"], sort=True):
            lines.append(f"  loss {model}/{curriculum}: last {LOSS_WINDOW} / first {LOSS_WINDOW} steps = "
                         + ", ".join(f"{r:.3f}" for r in runs["ratio"]) + " (seeds " + ", ".join(map(str, runs["seed"])) + ")")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from devcurriculum.eval.summarize import load_metrics

    parser = argparse.ArgumentParser(prog="devcurriculum.eval.learning", description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="results/summary.parquet")
    parser.add_argument("--metrics-glob", default=None, help="metrics.parquet files of the runs (loss ratios)")
    args = parser.parse_args(argv)
    summary = read_table(args.summary).to_pandas()
    metrics = load_metrics(sorted(glob.glob(args.metrics_glob))) if args.metrics_glob else None
    print(report(summary, metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
