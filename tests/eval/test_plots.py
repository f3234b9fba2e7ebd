"""The schedule and loss figures: each curriculum's defining feature on its own axis, legends clear of the data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from devcurriculum.eval.plots import UNIFORM_FRACTION, loss_curves_figure, schedules_figure

STEPS = 40


def _run(curriculum: str, *, lerac: bool = False, blur: bool = False, prototype: bool = False,
         lr: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    steps = np.arange(STEPS)
    base = np.full(STEPS, 1e-3) if lr is None else lr
    groups = np.stack([base * (0.01 ** (j * np.clip(1 - steps / 10, 0, 1) / 3) if lerac else base)
                       for j in range(4)], axis=1)
    return pd.DataFrame({
        "model": "videomae", "curriculum": curriculum, "seed": seed, "step": steps,
        "loss": 1.0 + 0.5 * np.exp(-steps / 10) + 0.01 * np.sin(steps),
        "lr": base, "lr_groups": list(groups), "stage": steps // 20,
        # a uniform run's fraction wobbles in the third decimal with the pool size: float noise, not a trend
        "effective_fraction": (np.minimum(UNIFORM_FRACTION, 0.2 + steps / 40) if prototype
                               else UNIFORM_FRACTION + 0.002 * (steps % 2)),
        "blur_sigma": np.maximum(0.0, 2.0 - steps / 5) if blur else np.zeros(STEPS),
    })


def _axes_by_label(fig) -> dict[str, object]:
    return {ax.get_ylabel(): ax for ax in fig.axes}


def _overlaps_any_axes(fig, box) -> bool:
    return any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)


def test_each_curriculum_feature_has_its_own_axis() -> None:
    metrics = pd.concat([_run("hybrid", lerac=True, blur=True), _run("prototype", prototype=True),
                         _run("mixed")], ignore_index=True)
    fig = schedules_figure(metrics)
    axes = _axes_by_label(fig)
    assert list(axes) == ["learning rate\n(main schedule)", "LeRaC: learning\nrate per layer group",
                          "effective fraction", "blur σ (pixels)"]
    lerac = axes["LeRaC: learning\nrate per layer group"]
    assert lerac.get_yscale() == "log"
    labels = [line.get_label() for line in lerac.get_lines()]
    assert labels == ["hybrid: group 0 (input side)", "hybrid: group 1", "hybrid: group 2",
                      "hybrid: group 3 (output side)"]
    deepest = lerac.get_lines()[3].get_ydata()
    assert deepest[0] == pytest.approx(1e-5) and deepest[-1] == pytest.approx(1e-3)  # 1 % of the base rate, then all meet
    assert axes["effective fraction"].get_ylim() == (0.0, 1.0)  # the uniform wobble is not blown up
    lo, hi = axes["blur σ (pixels)"].get_ylim()
    assert lo < 0 <= lo + 0.1 and hi == pytest.approx(2.2)


def test_flat_series_get_fixed_ranges_and_absent_features_are_said() -> None:
    fig = schedules_figure(_run("developmental", lr=np.full(STEPS, 5e-4)))
    axes = _axes_by_label(fig)
    assert "LeRaC: learning\nrate per layer group" not in axes  # no run has per-layer rates
    assert axes["learning rate\n(main schedule)"].get_ylim() == pytest.approx((5e-4 / 3, 5e-4 * 3))
    blur = axes["blur σ (pixels)"]
    assert blur.get_ylim() == pytest.approx((-0.03, 1.0))
    assert any("no blur curriculum" in t.get_text() for t in blur.texts)


def test_legends_sit_outside_every_panel() -> None:
    metrics = pd.concat([_run("hybrid", lerac=True, blur=True), _run("mixed"), _run("mixed", seed=1)],
                        ignore_index=True)
    for fig in (schedules_figure(metrics), loss_curves_figure(metrics)):
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert fig.legends, "one figure legend for the curricula"
        for legend in legends:
            assert not _overlaps_any_axes(fig, legend.get_window_extent(renderer))


def test_loss_axes_are_scaled_to_the_data_and_short_runs_are_not_smoothed() -> None:
    metrics = pd.concat([_run("mixed"), _run("developmental")], ignore_index=True)
    (ax,) = loss_curves_figure(metrics).axes
    lo, hi = ax.get_ylim()
    data_lo, data_hi = metrics["loss"].min(), metrics["loss"].max()
    assert lo <= data_lo and hi >= data_hi
    assert (hi - lo) < 1.2 * (data_hi - data_lo)
    curves = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(curves) == 2  # 40 steps: one line per run, the logged loss itself
    assert list(curves[0].get_ydata()) == pytest.approx(list(metrics.loc[metrics.curriculum == "developmental", "loss"]))
    boundaries = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in boundaries] == [20]
    assert not math.isnan(lo)
