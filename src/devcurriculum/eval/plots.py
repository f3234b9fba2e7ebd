"""The summary's figures: loss curves, readouts per curriculum, curriculum schedules.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot), so no global state or interactive
backend is involved and the code is safe in Snakemake jobs and tests; PNGs are written atomically.
Every function takes tidy pandas frames (one row per observation) so users can call them on their
own subsets of ``summary.parquet``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from devcurriculum.utils.io import PathLike, atomic_path

log = logging.getLogger("devcurriculum.eval.plots")

INIT = "init"
#: readouts shown in readouts.png, in this order, when present
MAIN_READOUTS: tuple[tuple[str, str], ...] = (("linear", "top1_accuracy"), ("knn", "top1_hit_rate"))
SCHEDULE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lr", "learning rate"),
    ("effective_fraction", "effective fraction"),
    ("blur_sigma", "blur σ"),
)


def save_figure(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` as PNG atomically; returns the path."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def curriculum_colors(curricula: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """One stable colour per curriculum name (same colour in every figure)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    names = sorted(set(curricula))
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def stage_boundaries(steps: np.ndarray, stages: np.ndarray) -> list[float]:
    """Steps at which ``stage`` changes from one logged row to the next (the first step of the new stage)."""
    if len(steps) < 2:
        return []
    order = np.argsort(steps, kind="stable")
    s, g = np.asarray(steps)[order], np.asarray(stages, dtype=object)[order]
    change = np.flatnonzero(g[1:] != g[:-1]) + 1
    return [float(s[i]) for i in change]


def plot_loss_curves(metrics: pd.DataFrame, path: PathLike) -> Path:
    """Loss over steps, one panel per model, one colour per curriculum, one line per seed.

    ``metrics`` needs model, curriculum, seed, step, loss and optionally stage. Raw losses are drawn
    faint, a running mean on top; stage boundaries are dotted vertical lines.
    """
    _require(metrics, ["model", "curriculum", "seed", "step", "loss"], "metrics")
    models = sorted(metrics["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(metrics["curriculum"].unique()))
    fig = Figure(figsize=(6.0 * len(models), 4.0), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        sub = metrics[metrics["model"] == model]
        bounds: set[float] = set()
        labelled: set[str] = set()
        for (cur, _seed), run in sub.groupby(["curriculum", "seed"], sort=True):
            run = run.sort_values("step")
            steps, loss = run["step"].to_numpy(float), run["loss"].to_numpy(float)
            window = max(1, len(run) // 25)
            smooth = pd.Series(loss).rolling(window, min_periods=1).mean().to_numpy()
            ax.plot(steps, loss, color=colors[cur], alpha=0.2, linewidth=0.8)
            ax.plot(steps, smooth, color=colors[cur], linewidth=1.6, label=None if cur in labelled else cur)
            labelled.add(cur)
            if "stage" in run:
                bounds.update(stage_boundaries(run["step"].to_numpy(), run["stage"].to_numpy()))
        for i, b in enumerate(sorted(bounds)):
            ax.axvline(b, color="0.4", linestyle=":", linewidth=1, label="stage boundary" if i == 0 else None)
        ax.set_title(f"{model}: training loss")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss")
        if sub.empty:
            ax.text(0.5, 0.5, "no training runs", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_readouts(
    summary: pd.DataFrame,
    path: PathLike,
    chance: Mapping[str, float] | None = None,
    baseline: pd.DataFrame | None = None,
) -> Path:
    """Readout value per curriculum after the last stage: one panel per (readout metric, benchmark), seeds as points.

    Colour and marker name the model; its untrained baseline (``baseline``: the after_stage 0 rows, or
    else the rows of curriculum ``init`` in ``summary``) is a dashed line in the same colour; the
    majority-class chance level of each benchmark (``chance``) a dotted grey line.
    """
    _require(summary, ["model", "curriculum", "seed", "benchmark", "readout", "metric", "value"], "summary")
    present = set(zip(summary["readout"], summary["metric"], strict=True))
    shown = [rm for rm in MAIN_READOUTS if rm in present] or sorted(present)[:2] or [("linear", "top1_accuracy")]
    benchmarks = sorted(summary["benchmark"].unique()) or ["(none)"]
    models = sorted(summary["model"].unique())
    trained = [c for c in dict.fromkeys(summary["curriculum"]) if c != INIT]
    if baseline is None:
        baseline = summary[summary["curriculum"] == INIT]
    # colour and marker name the model (the x axis already names the curriculum), and each model's
    # untrained baseline is dashed in its colour, so a point reads against its own baseline
    palette = matplotlib.colormaps["tab10"]
    model_colors = {model: palette(m % 10) for m, model in enumerate(models)}
    fig = Figure(figsize=(max(4.5, 1.1 * len(trained) + 2.0) * len(benchmarks), 3.6 * len(shown)), layout="constrained")
    axes = fig.subplots(len(shown), len(benchmarks), squeeze=False)
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    markers = "oDs^v<>P*X"
    for r, (readout, metric) in enumerate(shown):
        for c, bench in enumerate(benchmarks):
            ax = axes[r][c]
            sel = summary[(summary["readout"] == readout) & (summary["metric"] == metric) & (summary["benchmark"] == bench)]
            for m, model in enumerate(models):
                msel = sel[sel["model"] == model]
                offset = (m - (len(models) - 1) / 2) * 0.15
                color, marker = model_colors[model], markers[m % len(markers)]
                labelled = False
                for x, cur in enumerate(trained):
                    vals = msel.loc[msel["curriculum"] == cur, "value"].to_numpy(float)
                    if not len(vals):
                        continue
                    jitter = rng.uniform(-0.04, 0.04, size=len(vals))
                    ax.scatter(x + offset + jitter, vals, color=color, marker=marker, s=28, zorder=3,
                               label=None if labelled else model)
                    labelled = True
                    ax.hlines(vals.mean(), x + offset - 0.12, x + offset + 0.12, color=color, linewidth=2, zorder=3)
                base = baseline.loc[
                    (baseline["model"] == model) & (baseline["benchmark"] == bench)
                    & (baseline["readout"] == readout) & (baseline["metric"] == metric)
                ].drop_duplicates(subset=["seed"])["value"].to_numpy(float)  # one untrained model per seed
                if len(base):
                    ax.axhline(base.mean(), color=color, linestyle="--", linewidth=1.2, label=f"{model} untrained")
            if chance and bench in chance:
                ax.axhline(chance[bench], color="0.6", linestyle=":", linewidth=1.2, label="chance (majority class)")
            ax.set_xticks(range(len(trained)), trained, rotation=30, ha="right")
            ax.set_xlim(-0.6, max(len(trained), 1) - 0.4)
            ax.set_ylim(0.0, 1.02)  # accuracies and hit rates: the full range keeps panels comparable
            ax.set_title(f"{bench}: {readout} {metric}")
            ax.set_ylabel(metric.replace("_", " "))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="best")
    return save_figure(fig, path)


def plot_stage_curves(
    summary: pd.DataFrame,
    path: PathLike,
    chance: Mapping[str, float] | None = None,
) -> Path:
    """The main figure: readout after each curriculum stage (0 = untrained), per learner and curriculum.

    Rows are learners (models), columns are (benchmark, readout metric) panels; one line per
    curriculum (its colour) through the mean over seeds, a band over the seeds' range (min to max),
    and a dashed grey line at the benchmark's majority-class chance level.
    """
    _require(summary, ["model", "curriculum", "seed", "after_stage", "benchmark", "readout", "metric", "value"], "summary")
    present = set(zip(summary["readout"], summary["metric"], strict=True))
    shown = [rm for rm in MAIN_READOUTS if rm in present] or sorted(present)[:2] or [("linear", "top1_accuracy")]
    panels = [(bench, rm) for bench in sorted(summary["benchmark"].unique()) for rm in shown] or [("(none)", shown[0])]
    models = sorted(summary["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(summary["curriculum"].unique()))
    fig = Figure(figsize=(3.6 * len(panels) + 1.6, 2.9 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), len(panels), squeeze=False, sharex=True)
    for r, model in enumerate(models):
        for c, (bench, (readout, metric)) in enumerate(panels):
            ax = axes[r][c]
            sel = summary[
                (summary["model"] == model) & (summary["benchmark"] == bench)
                & (summary["readout"] == readout) & (summary["metric"] == metric)
            ]
            for cur, runs in sel.groupby("curriculum", sort=True):
                by_stage = runs.groupby("after_stage")["value"]
                x = by_stage.mean().index.to_numpy(float)
                ax.fill_between(x, by_stage.min(), by_stage.max(), color=colors[cur], alpha=0.18, linewidth=0)
                n = int(runs["seed"].nunique())
                ax.plot(x, by_stage.mean(), color=colors[cur], marker="o", markersize=3.5, linewidth=1.6,
                        label=f"{cur} (n={n})")
            if chance and bench in chance:
                ax.axhline(chance[bench], color="0.5", linestyle="--", linewidth=1.0, label="chance")
            _scale_to_data(ax, sel["value"], chance.get(bench) if chance else None)
            ax.set_title(f"{model} · {bench}\n{readout} {metric.replace('_', ' ')}", fontsize="medium")
            if c == 0:
                ax.set_ylabel("value")
            if r == len(models) - 1:
                ax.set_xlabel("after stage (0 = untrained)")
            stages = sorted(sel["after_stage"].unique())
            if stages:
                ax.set_xticks(stages)
        handles, labels = axes[r][-1].get_legend_handles_labels()
        if handles:
            axes[r][-1].legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save_figure(fig, path)


def _scale_to_data(ax: object, values: pd.Series, chance: float | None) -> None:
    """Y limits around the data and the chance line (with a margin), not the full [0, 1]."""
    vals = [float(v) for v in values] + ([chance] if chance is not None else [])
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    pad = max(0.02, 0.08 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad) if hi <= 1.0 else hi + pad)  # type: ignore[attr-defined]


#: the VoE readout's metrics (eval.voe), drawn solid and dashed
VOE_METRICS: tuple[tuple[str, str], ...] = (("pairwise_accuracy_mean", "-"), ("pairwise_accuracy_max", "--"))
VOE_CHANCE = 0.5


def plot_voe(summary: pd.DataFrame, path: PathLike) -> Path:
    """Violation of expectation: pairwise accuracy after each stage (0 = untrained), per learner and VoE benchmark.

    Rows are learners, columns the VoE benchmarks (``<set>:<property>``, each set's ``overall`` last);
    one colour per curriculum through the mean over seeds, solid for the mean-over-windows surprise,
    dashed for the max; chance (0.5) is a grey line, and said so on each panel.
    """
    _require(summary, ["model", "curriculum", "seed", "after_stage", "benchmark", "metric", "value"], "summary")
    benchmarks = sorted(summary["benchmark"].unique(), key=lambda b: (b.split(":")[0], b.endswith(":overall"), b))
    models = sorted(summary["model"].unique())
    colors = curriculum_colors(list(summary["curriculum"].unique()))
    fig = Figure(figsize=(3.2 * max(len(benchmarks), 1) + 1.8, 2.7 * max(len(models), 1)), layout="constrained")
    axes = fig.subplots(max(len(models), 1), max(len(benchmarks), 1), squeeze=False, sharex=True, sharey=True)
    if summary.empty:
        axes[0][0].text(0.5, 0.5, "no VoE sets (voe.sets in config.yaml)", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    for r, model in enumerate(models):
        for c, bench in enumerate(benchmarks):
            ax = axes[r][c]
            sel = summary[(summary["model"] == model) & (summary["benchmark"] == bench)]
            for (cur, runs), (metric, style) in itertools.product(sel.groupby("curriculum", sort=True), VOE_METRICS):
                by_stage = runs[runs["metric"] == metric].groupby("after_stage")["value"].mean()
                agg = metric.rsplit("_", 1)[-1]
                ax.plot(by_stage.index, by_stage.to_numpy(), color=colors[cur], linestyle=style, marker="o",
                        markersize=3, linewidth=1.4, label=f"{cur} ({agg}, n={runs['seed'].nunique()})")
            ax.axhline(VOE_CHANCE, color="0.5", linestyle=":", linewidth=1.2)
            ax.text(0.02, VOE_CHANCE + 0.02, "chance 0.5", color="0.4", fontsize="x-small", transform=ax.get_yaxis_transform())
            ax.set_ylim(-0.02, 1.02)
            ax.set_xticks(sorted(summary["after_stage"].unique()))
            ax.set_title(f"{model}\n{bench}", fontsize="medium")
            if c == 0:
                ax.set_ylabel("pairwise accuracy")
            if r == len(models) - 1:
                ax.set_xlabel("after stage (0 = untrained)")
        if benchmarks:
            handles, labels = axes[r][-1].get_legend_handles_labels()
            axes[r][-1].legend(handles, labels, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("violation of expectation: impossible clip more surprising than its possible twin "
                 "(solid: mean over windows, dashed: max; chance 0.5)", fontsize="medium")
    return save_figure(fig, path)


def plot_schedules(metrics: pd.DataFrame, path: PathLike) -> Path:
    """What each curriculum did to training: learning rate, effective fraction and blur σ over steps.

    One row per logged schedule column that exists in ``metrics``, one column per model; the first
    seed of each curriculum is drawn (schedules do not depend on the seed's data draws).
    """
    _require(metrics, ["model", "curriculum", "seed", "step"], "metrics")
    rows = [(col, label) for col, label in SCHEDULE_COLUMNS if col in metrics] or [("step", "step")]
    models = sorted(metrics["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(metrics["curriculum"].unique()))
    fig = Figure(figsize=(6.0 * len(models), 2.8 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(models), squeeze=False, sharex="col")
    for c, model in enumerate(models):
        sub = metrics[metrics["model"] == model]
        for cur, runs in sub.groupby("curriculum", sort=True):
            run = runs[runs["seed"] == runs["seed"].min()].sort_values("step")
            for r, (col, _label) in enumerate(rows):
                axes[r][c].plot(run["step"], run[col], color=colors[cur], linewidth=1.4, label=cur)
        for r, (col, label) in enumerate(rows):
            ax = axes[r][c]
            ax.set_ylabel(label)
            if r == 0:
                ax.set_title(f"{model}: curriculum schedules")
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize="small")
            if col == "lr" and len(sub) and (sub["lr"] > 0).all():
                ax.set_yscale("log")  # warm-up, LeRaC and cosine decay span decades
        axes[-1][c].set_xlabel("optimiser step")
    return save_figure(fig, path)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what} table lacks columns {missing}")
