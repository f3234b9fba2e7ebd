"""The figures of the three sweeps (rule ``plot_sweep``), each drawn from ``summary.parquet``:

- ``scaling.png`` (:func:`plot_scaling`): score after the last stage vs the hours of video a run was
  given (log x), one line per curriculum (and fraction budget), the band over seeds;
- ``few_shot.png`` (:func:`plot_few_shot`): few-shot score vs labelled items per class (log x), linear
  solid and kNN dashed, the band the mean interval over draws;
- ``ocp.png`` (:func:`plot_ocp`): object-contact-prediction accuracy after each stage (0 = untrained)
  per scenario and overall, one line per curriculum, the band over seeds.

Every panel draws the benchmark's chance level (dotted grey) and the untrained model (dashed grey) so
a line reads against both. Functions take tidy frames (rows of ``summary.parquet``) so users can call
them on their own subsets; :func:`plot_sweep` reads a summary file and writes one figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from devcurriculum.datasets.fractions import fraction_label
from devcurriculum.eval.plots import INIT, MAIN_READOUTS, curriculum_colors, save_figure
from devcurriculum.utils.io import read_metadata, read_table
from devcurriculum.utils.paths import PathLike

SWEEPS = ("scaling", "few_shot", "ocp")
#: the few-shot readouts and their metric, line styles
FEW_SHOT_LINES: tuple[tuple[str, str, str], ...] = (("linear_few_shot", "top1_accuracy", "-"),
                                                    ("knn_few_shot", "top1_hit_rate", "--"))
OCP_READOUT = "ocp"


def _final(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's last stage."""
    last = rows.groupby("run")["after_stage"].transform("max")
    return rows[rows["after_stage"] == last]


def _empty(fig_axes: object, text: str) -> None:
    ax = fig_axes
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)  # type: ignore[attr-defined]
    ax.set_xticks([])  # type: ignore[attr-defined]
    ax.set_yticks([])  # type: ignore[attr-defined]


def _reference_lines(ax: object, untrained: pd.Series, chance: float | None) -> None:
    """The untrained model's mean (dashed grey) and the chance level (dotted grey)."""
    if len(untrained):
        ax.axhline(float(untrained.mean()), color="0.45", linestyle="--", linewidth=1.1, label="untrained")  # type: ignore[attr-defined]
    if chance is not None:
        ax.axhline(chance, color="0.6", linestyle=":", linewidth=1.2, label="chance")  # type: ignore[attr-defined]


def _legend(fig: Figure, axes: np.ndarray) -> None:
    entries: dict[str, Any] = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside right upper", fontsize="small")


def scaling_panels(summary: pd.DataFrame) -> list[tuple[str, str, str]]:
    """``(benchmark, readout, metric)`` of the scaling figure: the main probes, and each OCP set's overall."""
    rows = summary[summary["shots"].isna()] if "shots" in summary else summary
    present = set(zip(rows["benchmark"], rows["readout"], rows["metric"], strict=True))
    panels = [(b, r, m) for b in sorted({b for b, _, _ in present}) for r, m in MAIN_READOUTS if (b, r, m) in present]
    panels += sorted((b, r, m) for b, r, m in present if r == OCP_READOUT and b.endswith(":overall"))
    return panels


def plot_scaling(summary: pd.DataFrame, path: PathLike, chance: Mapping[str, float] | None = None) -> Path:
    """Score after the last stage vs hours of video (log x): rows are learners, columns (benchmark, readout).

    One colour per curriculum through the mean over seeds at each fraction (x: the mean hours of the
    seeds' subsets; a run with fraction 1 joins every budget's line), the band min to max over seeds;
    the epochs budget dashed. Each point is labelled with its fraction. Without hours (no video
    durations) x is the fraction of the corpus.
    """
    rows = summary[summary["curriculum"] != INIT]
    panels = scaling_panels(rows)
    models = sorted(rows["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(rows["curriculum"].unique()))
    fig = Figure(figsize=(3.8 * max(len(panels), 1) + 2.2, 3.1 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), max(len(panels), 1), squeeze=False)
    use_hours = "hours" in rows and rows["hours"].notna().all() and len(rows)
    x_col = "hours" if use_hours else "data_fraction"
    # a corpus under an hour (the demo's 3 minutes) reads in minutes
    minutes = bool(use_hours) and float(rows["hours"].max()) < 1.0
    if minutes:
        rows = rows.assign(minutes=rows["hours"] * 60.0)
        x_col = "minutes"
    for r, model in enumerate(models):
        for c, (bench, readout, metric) in enumerate(panels or [("(none)", "", "")]):
            ax = axes[r][c]
            sel = rows[(rows["model"] == model) & (rows["benchmark"] == bench) & (rows["readout"] == readout)
                       & (rows["metric"] == metric)]
            if sel.empty:
                _empty(ax, "no runs")
                continue
            final, start = _final(sel), sel[sel["after_stage"] == 0]
            budgets = sorted(set(final.loc[final["data_fraction"] < 1.0, "fraction_budget"])) or ["steps"]
            for (cur, budget) in [(cur, b) for cur in sorted(final["curriculum"].unique()) for b in budgets]:
                line = final[(final["curriculum"] == cur) & ((final["fraction_budget"] == budget)
                                                             | (final["data_fraction"] == 1.0))]
                by = line.groupby("data_fraction")
                x, mean = by[x_col].mean().to_numpy(float), by["value"].mean()
                style = "--" if budget == "epochs" else "-"
                ax.fill_between(x, by["value"].min(), by["value"].max(), color=colors[cur], alpha=0.15, linewidth=0)
                label = f"{cur} (n={line['seed'].nunique()})" + (", same epochs" if budget == "epochs" else "")
                ax.plot(x, mean.to_numpy(), color=colors[cur], linestyle=style, marker="o", markersize=3.5,
                        linewidth=1.5, label=label)
            for fraction in sorted(final["data_fraction"].unique()):
                part = final[final["data_fraction"] == fraction]
                ax.annotate(fraction_label(float(fraction)), (float(part[x_col].mean()), float(part["value"].max())),
                            textcoords="offset points", xytext=(0, 4), ha="center", fontsize="x-small", color="0.3")
            _reference_lines(ax, start.drop_duplicates(subset=["seed"])["value"], (chance or {}).get(bench))
            ax.set_xscale("log")
            ticks = sorted({round(float(v), 6) for v in final.groupby("data_fraction")[x_col].mean()})
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel(f"{x_col} of video (log)" if use_hours else "fraction of the corpus (log)")
            ax.set_title(f"{model} · {bench}\n{readout} {metric.replace('_', ' ')}", fontsize="medium")
            if c == 0:
                ax.set_ylabel("after the last stage")
    _legend(fig, axes)
    fig.suptitle("corpus size: score after the last stage vs the video a run was given\n(points labelled with their "
                 "fraction of the corpus; band: seeds' range)", fontsize="medium")
    return save_figure(fig, path)


def plot_few_shot(summary: pd.DataFrame, path: PathLike, chance: Mapping[str, float] | None = None) -> Path:
    """Few-shot score after the last stage vs labelled items per class (log x): rows learners, columns benchmarks.

    Whole-corpus runs only. One colour per curriculum through the mean over seeds (linear solid, kNN
    top-1 dashed), the band from the mean ``ci_low`` to the mean ``ci_high`` over seeds (how much a
    score depends on which items were labelled); the untrained model in grey, chance dotted.
    """
    rows = summary[summary["shots"].notna() & (summary["data_fraction"] == 1.0)] if "shots" in summary else summary[:0]
    benchmarks = sorted(rows["benchmark"].unique()) or ["(none)"]
    models = sorted(rows["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(rows["curriculum"].unique()))
    fig = Figure(figsize=(3.8 * len(benchmarks) + 2.2, 3.1 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), len(benchmarks), squeeze=False)
    for r, model in enumerate(models):
        for c, bench in enumerate(benchmarks):
            ax = axes[r][c]
            sel = rows[(rows["model"] == model) & (rows["benchmark"] == bench)]
            if sel.empty:
                _empty(ax, "no few-shot rows (evaluation.few_shot)")
                continue
            final, start = _final(sel), sel[sel["after_stage"] == 0]
            for readout, metric, style in FEW_SHOT_LINES:
                for cur, line in final[(final["readout"] == readout) & (final["metric"] == metric)].groupby("curriculum"):
                    by = line.groupby("shots")
                    x = by["value"].mean().index.to_numpy(float)
                    color = colors[str(cur)]
                    ax.fill_between(x, by["ci_low"].mean(), by["ci_high"].mean(), color=color, alpha=0.12, linewidth=0)
                    ax.plot(x, by["value"].mean().to_numpy(), color=color, linestyle=style, marker="o",
                            markersize=3.5, linewidth=1.5,
                            label=f"{cur} {readout.split('_')[0]} (n={line['seed'].nunique()})")
                base = start[(start["readout"] == readout) & (start["metric"] == metric)]
                base = base.drop_duplicates(subset=["seed", "shots"]).groupby("shots")["value"].mean()
                if len(base):
                    ax.plot(base.index.to_numpy(float), base.to_numpy(), color="0.45", linestyle=style, linewidth=1.1,
                            label=f"untrained {readout.split('_')[0]}")
            if chance and bench in chance:
                ax.axhline(chance[bench], color="0.6", linestyle=":", linewidth=1.2, label="chance")
            shots = sorted(int(s) for s in sel["shots"].unique())
            ax.set_xscale("log")
            ax.set_xticks(shots, [str(s) for s in shots])
            ax.set_xlabel("labelled items per class (log)")
            ax.set_title(f"{model} · {bench}", fontsize="medium")
            if c == 0:
                ax.set_ylabel("test score after the last stage")
    _legend(fig, axes)
    fig.suptitle("few-shot readouts after the last stage: linear top-1 (solid), kNN top-1 (dashed)\n"
                 "band: the interval over draws of labelled items", fontsize="medium")
    return save_figure(fig, path)


def _ocp_order(benchmark: str) -> tuple[str, bool, str]:
    name, _, scenario = benchmark.partition(":")
    return name, scenario == "overall", scenario


def plot_ocp(summary: pd.DataFrame, path: PathLike, chance: Mapping[str, float] | None = None) -> Path:
    """Object-contact-prediction accuracy after each stage (0 = untrained): rows learners, columns
    ``<set>:<scenario>`` (each set's ``overall`` last). Whole-corpus runs; one colour per curriculum
    through the mean over seeds, the band min to max over seeds; chance (each scenario's test
    majority rate) dotted grey."""
    rows = summary[(summary["readout"] == OCP_READOUT) & (summary["data_fraction"] == 1.0)]
    benchmarks = sorted(rows["benchmark"].unique(), key=_ocp_order) or ["(none)"]
    models = sorted(rows["model"].unique()) or ["(no runs)"]
    colors = curriculum_colors(list(rows["curriculum"].unique()))
    fig = Figure(figsize=(3.2 * len(benchmarks) + 2.2, 2.8 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), len(benchmarks), squeeze=False, sharey=True)
    for r, model in enumerate(models):
        for c, bench in enumerate(benchmarks):
            ax = axes[r][c]
            sel = rows[(rows["model"] == model) & (rows["benchmark"] == bench)]
            if sel.empty:
                _empty(ax, "no OCP rows (ocp.sets)")
                continue
            for cur, runs in sel.groupby("curriculum", sort=True):
                by = runs.groupby("after_stage")["value"]
                x = by.mean().index.to_numpy(float)
                color = colors[str(cur)]
                ax.fill_between(x, by.min(), by.max(), color=color, alpha=0.18, linewidth=0)
                ax.plot(x, by.mean().to_numpy(), color=color, marker="o", markersize=3.5, linewidth=1.5,
                        label=f"{cur} (n={runs['seed'].nunique()})")
            if chance and bench in chance:
                ax.axhline(chance[bench], color="0.6", linestyle=":", linewidth=1.2, label="chance")
            ax.set_ylim(0.3, 1.02)
            ax.set_xticks(sorted(sel["after_stage"].unique()))
            ax.set_title(f"{model}\n{bench}", fontsize="medium")
            if c == 0:
                ax.set_ylabel("test accuracy")
            if r == len(models) - 1:
                ax.set_xlabel("after stage (0 = untrained)")
    _legend(fig, axes)
    fig.suptitle("object contact prediction: will the red object touch the yellow one?\n"
                 "(Physion's logistic readout of the frozen encoder on the first frames)", fontsize="medium")
    return save_figure(fig, path)


PLOTS = {"scaling": plot_scaling, "few_shot": plot_few_shot, "ocp": plot_ocp}


def plot_sweep(sweep: str, summary_path: PathLike, out_path: PathLike) -> Path:
    """Draw one sweep's figure (``scaling``, ``few_shot`` or ``ocp``) from a ``summary.parquet``."""
    if sweep not in PLOTS:
        raise ValueError(f"unknown sweep figure {sweep!r}; known: {', '.join(SWEEPS)}")
    summary = read_table(summary_path).to_pandas()
    chance = json.loads(read_metadata(summary_path).get("devcurriculum.chance_top1", "{}"))
    return PLOTS[sweep](summary, out_path, chance=chance)
