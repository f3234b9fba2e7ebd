"""The summary's figures: loss curves, readouts per curriculum, curriculum schedules.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot), so no global state or interactive
backend is involved and the code is safe in Snakemake jobs and tests; every figure is written
atomically, as PNG, PDF or SVG by the path's suffix (:func:`save_figure`).
Every function takes tidy pandas frames (one row per observation) so users can call them on their
own subsets of ``summary.parquet``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.eval.plots")

INIT = "init"
#: readouts shown in readouts.png, in this order, when present
MAIN_READOUTS: tuple[tuple[str, str], ...] = (("linear", "top1_accuracy"), ("knn", "top1_hit_rate"))
#: the effective fraction of uniform sampling (N draws from N clips, N large)
UNIFORM_FRACTION = 1.0 - math.exp(-1.0)


#: file suffix -> matplotlib format: raster PNG, or vector PDF / SVG / EPS for a paper
FIGURE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".eps": "eps"}
#: header fields that would otherwise stamp the time of writing into a vector file (same figure, same bytes)
_NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "eps": {"CreationDate": None}}


def save_figure(fig: Figure, path: PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` atomically in the format its suffix names (:data:`FIGURE_FORMATS`); returns the path.

    ``fig.pdf`` is a PDF, ``fig.svg`` an SVG (vector: text stays text, lines stay lines), ``fig.png`` a
    PNG at ``dpi``; another suffix is an error naming the ones known. The look comes from matplotlib's
    rcParams when the figure is built (docs/evaluation.md "Figures for a paper"): wrap the plotting call
    in ``matplotlib.style.context(...)``, or set ``evaluation.figure_style`` for the workflow's figures.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ValueError(f"{path}: unknown figure format {suffix or '(no suffix)'!r}; use one of {sorted(FIGURE_FORMATS)}")
    fmt = FIGURE_FORMATS[suffix]
    # a fixed salt for the ids SVG gives its elements (random otherwise): the same figure, the same bytes
    with atomic_path(path, suffix=suffix) as tmp, matplotlib.rc_context({"svg.hashsalt": "devcurriculum"}):
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_NO_DATE.get(fmt))
    return Path(path)


@contextlib.contextmanager
def figure_style(style: str | PathLike | None) -> Iterator[None]:
    """Draw the figures built inside the block in a matplotlib ``style`` (a name or a ``.mplstyle`` file).

    None leaves matplotlib's defaults. A style that is neither a known name nor a file is an error
    naming both (``evaluation.figure_style``), raised before any figure is drawn.
    """
    if style is None:
        yield
        return
    style = str(style)
    if style not in matplotlib.style.available and not Path(style).is_file():
        raise ValueError(
            f"evaluation.figure_style: {style!r} is neither a matplotlib style ({', '.join(sorted(matplotlib.style.available)[:6])}, ...) "
            "nor an existing .mplstyle file"
        )
    with matplotlib.style.context(style):
        yield


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


def loss_curves_figure(metrics: pd.DataFrame) -> Figure:
    """Loss over steps, one panel per model, one colour per curriculum, one line per seed.

    ``metrics`` needs model, curriculum, seed, step, loss and optionally stage. Raw losses are drawn
    faint, a running mean over ``n // 25`` steps on top (runs under 50 steps: the raw loss only);
    stage boundaries are dotted vertical lines. The legend sits outside the panels.
    """
    _require(metrics, ["model", "curriculum", "seed", "step", "loss"], "metrics")
    models = sorted(metrics["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(metrics["curriculum"].unique()))
    fig = Figure(figsize=(5.5 * len(models) + 2.0, 3.8), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    bounds_drawn = False
    for ax, model in zip(axes, models, strict=True):
        sub = metrics[metrics["model"] == model]
        bounds: set[float] = set()
        for (cur, _seed), run in sub.groupby(["curriculum", "seed"], sort=True):
            run = run.sort_values("step")
            steps, loss = run["step"].to_numpy(float), run["loss"].to_numpy(float)
            window = max(1, len(run) // 25)
            if window > 1:
                ax.plot(steps, loss, color=colors[cur], alpha=0.25, linewidth=0.8)
                loss = pd.Series(loss).rolling(window, min_periods=1).mean().to_numpy()
            ax.plot(steps, loss, color=colors[cur], linewidth=1.6)
            if "stage" in run:
                bounds.update(stage_boundaries(run["step"].to_numpy(), run["stage"].to_numpy()))
        for b in sorted(bounds):
            ax.axvline(b, color="0.4", linestyle=":", linewidth=1)
        bounds_drawn = bounds_drawn or bool(bounds)
        ax.set_title(f"{model}: training loss")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss")
        ax.margins(x=0.01, y=0.05)
        if sub.empty:
            ax.text(0.5, 0.5, "no training runs", ha="center", va="center", transform=ax.transAxes)
    handles = _curriculum_handles(colors)
    if bounds_drawn:
        handles.append(Line2D([], [], color="0.4", linestyle=":", linewidth=1, label="stage boundary"))
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize="small", title="curriculum")
    return fig


def plot_loss_curves(metrics: pd.DataFrame, path: PathLike) -> Path:
    """:func:`loss_curves_figure`, written to ``path`` (PNG, PDF or SVG by its suffix)."""
    return save_figure(loss_curves_figure(metrics), path)


def _curriculum_handles(colors: Mapping[str, Any], styles: Mapping[str, Mapping[str, Any]] | None = None) -> list[Line2D]:
    """One legend entry per curriculum (its colour, and its marker when ``styles`` gives one)."""
    handles = []
    for name, color in colors.items():
        style = dict((styles or {}).get(name, {}))
        style.pop("markevery", None)
        handles.append(Line2D([], [], color=color, linewidth=1.6, label=name, **style))
    return handles


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
            values = pd.concat([sel["value"], baseline.loc[baseline["benchmark"] == bench, "value"]])
            _scale_to_data(ax, values, chance.get(bench) if chance else None)
            ax.set_title(f"{bench}: {readout} {metric}")
            ax.set_ylabel(metric.replace("_", " "))
    # one legend for the figure, outside the panels, so it never hides a point
    handles, labels = _figure_legend_entries(list(axes.ravel()))
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    return save_figure(fig, path)


def _figure_legend_entries(axes: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """Every distinct legend entry of ``axes``, first occurrence first."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def baseline_colors(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per outside model (``Dark2``, apart from the curricula's ``tab10``)."""
    from matplotlib import colormaps

    cmap = colormaps["Dark2"]
    return {name: cmap(i % 8) for i, name in enumerate(sorted(set(names)))}


def draw_baselines(ax: Any, baselines: pd.DataFrame | None, colors: Mapping[str, Any], **where: str) -> list[float]:
    """A dash-dot reference line per outside model at its value for the panel's ``where`` (column == value);
    returns the values drawn (for the axis range)."""
    if baselines is None or baselines.empty:
        return []
    sel = baselines
    for column, wanted in where.items():
        sel = sel[sel[column] == wanted]
    drawn: list[float] = []
    for name, rows in sel.groupby("model", sort=True):
        level = float(rows["value"].mean())
        ax.axhline(level, color=colors[str(name)], linestyle="-.", linewidth=1.3, label=f"{name} (outside model)")
        drawn.append(level)
    return drawn


def plot_stage_curves(
    summary: pd.DataFrame,
    path: PathLike,
    chance: Mapping[str, float] | None = None,
    baselines: pd.DataFrame | None = None,
) -> Path:
    """:func:`stage_curves_figure`, written to ``path`` (PNG, PDF or SVG by its suffix)."""
    return save_figure(stage_curves_figure(summary, chance=chance, baselines=baselines), path)


def stage_curves_figure(
    summary: pd.DataFrame,
    chance: Mapping[str, float] | None = None,
    baselines: pd.DataFrame | None = None,
) -> Figure:
    """The main figure: readout after each curriculum stage (0 = untrained), per learner and curriculum.

    Rows are learners (models), columns are (benchmark, readout metric) panels; one line per
    curriculum (its colour) through the mean over seeds, a band over the seeds' range (min to max),
    and a dashed grey line at the benchmark's majority-class chance level. ``baselines`` (the summary's
    rows of outside models, ``curriculum == "baseline"``) are dash-dot reference lines in every
    learner's panel of their benchmark and metric: they were not trained here, so they have no stages.
    """
    _require(summary, ["model", "curriculum", "seed", "after_stage", "benchmark", "readout", "metric", "value"], "summary")
    present = set(zip(summary["readout"], summary["metric"], strict=True))
    shown = [rm for rm in MAIN_READOUTS if rm in present] or sorted(present)[:2] or [("linear", "top1_accuracy")]
    panels = [(bench, rm) for bench in sorted(summary["benchmark"].unique()) for rm in shown] or [("(none)", shown[0])]
    models = sorted(summary["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(summary["curriculum"].unique()))
    outside = baseline_colors(list(baselines["model"].unique())) if baselines is not None else {}
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
            references = draw_baselines(ax, baselines, outside, benchmark=bench, readout=readout, metric=metric)
            _scale_to_data(ax, pd.concat([sel["value"], pd.Series(references, dtype=float)]),
                           chance.get(bench) if chance else None)
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
    return fig


def _scale_to_data(ax: object, values: pd.Series, chance: float | None) -> None:
    """Y limits around the data and the chance line (with a margin), not the full [0, 1]."""
    vals = [float(v) for v in values] + ([chance] if chance is not None else [])
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    pad = max(0.02, 0.08 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad) if hi <= 1.0 else hi + pad)  # type: ignore[attr-defined]


#: the VoE readout's panels (eval.voe): title -> (metric, line style, legend tag) drawn in it. The headline
#: (relative accuracy on the mean surprise) per property and overall: pre-registered context solid, best
#: row of the sweep dashed; then, on each set's overall (the mean over properties), the rest of the suite
VOE_HEADLINE: tuple[tuple[str, str, str], ...] = (("relative_accuracy_mean", "-", ""),
                                                  ("relative_accuracy_mean_best_row", "--", " best row"))
VOE_SUITE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "relative accuracy (max)": (("relative_accuracy_max", "-", ""), ("relative_accuracy_max_best_row", "--", " best row")),
    "absolute accuracy (max)": (("absolute_accuracy_max", "-", ""),),
    "AUROC (mean; max dashed)": (("auroc_mean", "-", " mean"), ("auroc_max", "--", " max")),
    "AUPRC (mean; max dashed)": (("auprc_mean", "-", " mean"), ("auprc_max", "--", " max")),
    "pairwise, project's protocol": (("pairwise_accuracy_mean", "-", " mean"), ("pairwise_accuracy_max", "--", " max")),
    "Hedges' g vs untrained": (("hedges_g_relative_accuracy_mean", "-", ""),
                               ("hedges_g_relative_accuracy_mean_best_row", "--", " best row")),
}
VOE_CHANCE = 0.5
UNTRAINED_SPREAD = 1.96  # the notebook's band: 1.96 standard deviations (ddof 0) of the untrained networks


def _voe_panel(ax: Any, rows: pd.DataFrame, series: Sequence[tuple[str, str, str]], colors: Mapping[str, Any],
               stages: list[int], chance: float | None) -> None:
    """Metrics by stage: each curriculum's mean over seeds, and the untrained networks' mean with a 1.96-sd bar
    at stage 0 (Hedges' g has none: it is taken against them)."""
    for metric, style, tag in series:
        sel = rows[rows["metric"] == metric]
        untrained = sel[sel["after_stage"] == 0].drop_duplicates("seed")["value"]
        if len(untrained):
            ax.errorbar([0], [float(untrained.mean())], yerr=[UNTRAINED_SPREAD * float(untrained.std(ddof=0))],
                        color="0.3", marker="s" if style == "-" else "D", markersize=4, capsize=3, linestyle="none",
                        label=f"untrained{tag} (n={len(untrained)})")
        for cur, runs in sel[sel["curriculum"] != INIT].groupby("curriculum", sort=True):
            by_stage = runs.groupby("after_stage")["value"].mean()
            ax.plot(by_stage.index, by_stage.to_numpy(), color=colors[str(cur)], linestyle=style, marker="o",
                    markersize=3, linewidth=1.4, label=f"{cur}{tag} (n={runs['seed'].nunique()})")
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle=":", linewidth=1.2)
        ax.set_ylim(-0.02, 1.02)
    else:
        ax.axhline(0.0, color="0.5", linestyle=":", linewidth=1.2)
    ax.set_xticks(stages)


def plot_voe(summary: pd.DataFrame, path: PathLike, baselines: pd.DataFrame | None = None) -> Path:
    """Violation of expectation after each stage (0 = untrained): one row of panels per learner and VoE set.

    First the headline, relative accuracy on the mean surprise at the pre-registered context (solid) and
    at the best row of the context sweep (dashed: chosen on the evaluated pairs, so optimistic), per
    property and overall (the mean over properties); then, on the overall, the rest of the suite
    (relative accuracy on the max, absolute accuracy, AUROC, AUPRC, the project's pairwise accuracy) and
    Hedges' g of each stage against the untrained networks. One colour per curriculum through the mean
    over seeds; the untrained networks as a grey square with a 1.96-sd bar; chance 0.5 dotted.
    ``baselines`` (outside models' VoE rows: the feature-change proxy) are dash-dot reference lines of
    their headline metric in the per-property panels.
    """
    _require(summary, ["model", "curriculum", "seed", "after_stage", "benchmark", "metric", "value"], "summary")
    sets = sorted({b.split(":")[0] for b in summary["benchmark"]})
    groups = [(m, v) for m in sorted(summary["model"].unique()) for v in sets]
    props = {v: sorted({b for b in summary["benchmark"] if b.startswith(f"{v}:")}, key=lambda b: (b.endswith(":overall"), b))
             for v in sets}
    ncols = max([len(p) for p in props.values()] + [0]) + len(VOE_SUITE)
    colors = curriculum_colors([c for c in summary["curriculum"].unique() if c != INIT])
    outside = baseline_colors(list(baselines["model"].unique())) if baselines is not None else {}
    stages = sorted(int(s) for s in summary["after_stage"].unique())
    fig = Figure(figsize=(2.5 * max(ncols, 1) + 2.2, 2.5 * max(len(groups), 1)), layout="constrained")
    axes = fig.subplots(max(len(groups), 1), max(ncols, 1), squeeze=False, sharex=True)
    if summary.empty:
        axes[0][0].text(0.5, 0.5, "no VoE sets (voe.sets in config.yaml)", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    for r, (model, voe) in enumerate(groups):
        mine = summary[summary["model"] == model]
        panels: list[tuple[str, pd.DataFrame, tuple[tuple[str, str, str], ...], float | None]] = [
            (bench, mine[mine["benchmark"] == bench], VOE_HEADLINE, VOE_CHANCE) for bench in props[voe]]
        overall = mine[mine["benchmark"] == f"{voe}:overall"]
        panels += [(f"{voe}:overall\n{title}", overall, series, None if title.startswith("Hedges") else VOE_CHANCE)
                   for title, series in VOE_SUITE.items()]
        for c, ax in enumerate(axes[r]):
            if c >= len(panels):
                ax.set_axis_off()
                continue
            title, rows, series, chance = panels[c]
            _voe_panel(ax, rows, series, colors, stages, chance)
            if series is VOE_HEADLINE:
                draw_baselines(ax, baselines, outside, benchmark=title, metric=VOE_HEADLINE[0][0])
            ax.set_title(f"{model} {title}", fontsize="small")
            if r == len(groups) - 1:
                ax.set_xlabel("after stage (0 = untrained)")
        handles, labels = axes[r][0].get_legend_handles_labels()
        if handles:
            axes[r][-1].legend(handles, labels, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("violation of expectation (Garrido et al. 2025 suite): relative accuracy per property, solid = "
                 "pre-registered context, dashed = best row of the sweep (chosen on these pairs: optimistic); "
                 "chance 0.5 dotted", fontsize="medium")
    return save_figure(fig, path)


def schedules_figure(metrics: pd.DataFrame) -> Figure:
    """What each curriculum did to training, one column per model (first seed of each curriculum).

    Panels, when their columns are in ``metrics``: the main learning rate (log scale); the per-layer
    rates of LeRaC curricula (``lr_groups``, one line per depth group, only when some run's groups
    differ); the effective fraction on a fixed [0, 1] axis with the uniform value 1 - 1/e marked; blur
    σ from 0. Lines that coincide stay visible through staggered markers; the legend sits outside.
    """
    _require(metrics, ["model", "curriculum", "seed", "step"], "metrics")
    models = sorted(metrics["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(metrics["curriculum"].unique()))
    runs = {model: _first_seed_runs(metrics[metrics["model"] == model]) for model in models}
    panels = [p for p in _SCHEDULE_PANELS if p.present(metrics)] or [_SCHEDULE_PANELS[0]]
    styles = _overlap_styles(list(colors))
    fig = Figure(figsize=(5.5 * len(models) + 2.6, 2.5 * len(panels) + 0.4), layout="constrained")
    axes = fig.subplots(len(panels), len(models), squeeze=False, sharex="col")
    for c, model in enumerate(models):
        for r, panel in enumerate(panels):
            ax = axes[r][c]
            if panel.column in metrics:
                panel.draw(ax, runs[model], colors, styles)
            ax.set_ylabel(panel.label)
        axes[0][c].set_title(f"{model}: curriculum schedules")
        axes[-1][c].set_xlabel("optimiser step")
    fig.legend(handles=_curriculum_handles(colors, styles), loc="outside right upper", fontsize="small",
               title="curriculum")
    return fig


def plot_schedules(metrics: pd.DataFrame, path: PathLike) -> Path:
    """:func:`schedules_figure`, written to ``path`` (PNG, PDF or SVG by its suffix)."""
    return save_figure(schedules_figure(metrics), path)


def _first_seed_runs(metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Curriculum -> its first seed's rows by step (schedules do not depend on the seed's data draws)."""
    out = {}
    for cur, runs in metrics.groupby("curriculum", sort=True):
        out[str(cur)] = runs[runs["seed"] == runs["seed"].min()].sort_values("step")
    return out


def _overlap_styles(curricula: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A marker per curriculum, placed at staggered steps, so curves that coincide stay distinguishable."""
    markers = "osD^vP*Xh<>"
    n = max(1, len(curricula))
    return {cur: {"marker": markers[i % len(markers)], "markersize": 4.5, "markevery": (i / n * 0.12, 0.12)}
            for i, cur in enumerate(curricula)}


def _fix_flat_range(ax: Any, values: np.ndarray, lo: float, hi: float) -> bool:
    """Give a (nearly) constant series the fixed y range [lo, hi], so float noise is never blown up."""
    finite = values[np.isfinite(values)]
    if len(finite) and np.ptp(finite) > 1e-9 * max(1.0, float(np.abs(finite).max())):
        return False
    ax.set_ylim(lo, hi)
    return True


def _draw_main_lr(ax: Any, runs: Mapping[str, pd.DataFrame], colors: Mapping[str, Any],
                  styles: Mapping[str, Mapping[str, Any]]) -> None:
    values = [run["lr"].to_numpy(float) for run in runs.values()]
    for cur, run in runs.items():
        ax.plot(run["step"], run["lr"], color=colors[cur], linewidth=1.4, **styles[cur])
    every = np.concatenate(values) if values else np.array([])
    if len(every) and (every > 0).all():
        ax.set_yscale("log")  # warm-up, LeRaC and cosine decay span decades
        _fix_flat_range(ax, every, float(every.min()) / 3, float(every.max()) * 3)


def _layer_rates(run: pd.DataFrame) -> np.ndarray | None:
    """(steps, groups) per-layer rates of a run when they differ between groups at some step, else None."""
    if "lr_groups" not in run or run["lr_groups"].isna().any() or not len(run):
        return None
    rates = np.vstack([np.asarray(v, dtype=float) for v in run["lr_groups"]])
    if rates.shape[1] < 2 or np.allclose(rates, rates[:, :1], rtol=1e-9, atol=0.0):
        return None
    return rates


def _draw_layer_lr(ax: Any, runs: Mapping[str, pd.DataFrame], colors: Mapping[str, Any],
                   styles: Mapping[str, Mapping[str, Any]]) -> None:
    """LeRaC: one line per depth group (dark = input side, light = output side), a line style per curriculum."""
    lerac = {cur: rates for cur, run in runs.items() if (rates := _layer_rates(run)) is not None}
    if not lerac:
        ax.text(0.5, 0.5, "no LeRaC curriculum: every layer trains at the main rate", ha="center", va="center",
                transform=ax.transAxes, fontsize="small", color="0.35")
        ax.set_yticks([])
        return
    cmap = matplotlib.colormaps["viridis"]
    linestyles = ["-", "--", ":", "-."]
    for k, (cur, rates) in enumerate(lerac.items()):
        steps = runs[cur]["step"].to_numpy(float)
        n_groups = rates.shape[1]
        for j in range(n_groups):
            side = " (input side)" if j == 0 else " (output side)" if j == n_groups - 1 else ""
            ax.plot(steps, rates[:, j], color=cmap(0.85 * j / (n_groups - 1)), linewidth=1.3,
                    linestyle=linestyles[k % len(linestyles)], label=f"{cur}: group {j}{side}")
    ax.set_yscale("log")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _draw_effective_fraction(ax: Any, runs: Mapping[str, pd.DataFrame], colors: Mapping[str, Any],
                             styles: Mapping[str, Mapping[str, Any]]) -> None:
    for cur, run in runs.items():
        ax.plot(run["step"], run["effective_fraction"], color=colors[cur], linewidth=1.4, **styles[cur])
    ax.axhline(UNIFORM_FRACTION, color="0.5", linestyle=":", linewidth=1.0)
    ax.text(1.0, UNIFORM_FRACTION, " uniform\n 1 − 1/e", transform=ax.get_yaxis_transform(), va="center",
            fontsize="x-small", color="0.35")
    ax.set_ylim(0.0, 1.0)  # a fraction: the full range, so a flat uniform run never looks like a trend


def _draw_blur(ax: Any, runs: Mapping[str, pd.DataFrame], colors: Mapping[str, Any],
               styles: Mapping[str, Mapping[str, Any]]) -> None:
    sigmas = np.concatenate([run["blur_sigma"].to_numpy(float) for run in runs.values()]) if runs else np.array([])
    for cur, run in runs.items():
        ax.plot(run["step"], run["blur_sigma"], color=colors[cur], linewidth=1.4, **styles[cur])
    top = float(np.nanmax(sigmas)) if len(sigmas) else 0.0
    if top <= 0.0:
        ax.text(0.5, 0.6, "no blur curriculum: σ = 0 throughout", ha="center", va="center",
                transform=ax.transAxes, fontsize="small", color="0.35")
    top = max(1.0, 1.1 * top)
    ax.set_ylim(-0.03 * top, top)  # σ in pixels from 0 (a little below, so σ = 0 lines stay visible)


@dataclass(frozen=True)
class _SchedulePanel:
    column: str
    label: str
    draw: Callable[[Any, Mapping[str, pd.DataFrame], Mapping[str, Any], Mapping[str, Mapping[str, Any]]], None]
    only_if: Callable[[pd.DataFrame], bool] | None = None

    def present(self, metrics: pd.DataFrame) -> bool:
        return self.column in metrics and (self.only_if is None or self.only_if(metrics))


def _any_layer_rates(metrics: pd.DataFrame) -> bool:
    return any(_layer_rates(run) is not None for _, run in metrics.groupby(["model", "curriculum", "seed"]))


_SCHEDULE_PANELS: tuple[_SchedulePanel, ...] = (
    _SchedulePanel("lr", "learning rate\n(main schedule)", _draw_main_lr),
    _SchedulePanel("lr_groups", "LeRaC: learning\nrate per layer group", _draw_layer_lr, only_if=_any_layer_rates),
    _SchedulePanel("effective_fraction", "effective fraction", _draw_effective_fraction),
    _SchedulePanel("blur_sigma", "blur σ (pixels)", _draw_blur),
)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what} table lacks columns {missing}")
