"""The ``build_curriculum`` rule: a per-bucket preview of what a curriculum will do, table + plot.

The preview asks the same :class:`CurriculumSampler` the training loop uses for its stage, pool,
temperature and effective fraction, so what is plotted is what is trained; the blur and LeRaC columns
come from the same schedules the loop uses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.config import CurriculumConfig
from devcurriculum.curriculum.blur import BlurSchedule
from devcurriculum.curriculum.lerac import LeracSchedule
from devcurriculum.curriculum.plan import CurriculumPlan
from devcurriculum.curriculum.pools import load_pools
from devcurriculum.curriculum.sampler import CurriculumSampler
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.io import provenance, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.curriculum.preview")


#: Depth groups assumed for the LeRaC column of the preview (the model decides in training; the
#: deepest group, which has the smallest multiplier, is what ``lr_scale_min`` reports).
DEFAULT_LERAC_GROUPS = 8

PREVIEW_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64()),
        pa.field("stage", pa.int32()),
        pa.field("pool", pa.list_(pa.string())),
        pa.field("effective_fraction", pa.float64()),
        pa.field("temperature", pa.float64()),
        pa.field("blur_sigma", pa.float64()),
        pa.field("blur_prob", pa.float64()),
        pa.field("lr_scale_min", pa.float64()),
    ]
)
#: ``curricula/{name}.parquet``: the preview of every learner that trains the curriculum, one block of
#: rows each, at its own ``steps_per_stage`` / ``bucket_steps`` (models.<name>.pretrain over pretrain);
#: ``model`` is null for the shared ``pretrain`` schedule (no run trains the curriculum)
PREVIEW_FILE_SCHEMA = pa.schema([pa.field("model", pa.string()), *PREVIEW_SCHEMA])


def preview_table(
    plan: CurriculumPlan,
    pools: Mapping[str, np.ndarray],
    difficulty: np.ndarray | None,
    bucket_steps: int | Literal["auto"],
    lerac_groups: int = DEFAULT_LERAC_GROUPS,
) -> pd.DataFrame:
    """One row per step bucket (buckets restart at every stage boundary, as in the sampler).

    Columns: step, stage, pool (list of groups), effective_fraction, temperature (NaN when
    unweighted, inf after the warm-up), blur_sigma, blur_prob, lr_scale_min.
    """
    sampler = CurriculumSampler(plan, pools, batch_size=1, seed=0, difficulty=difficulty, bucket_steps=bucket_steps)
    blur = BlurSchedule.from_config(plan.blur, plan.total_steps) if plan.blur is not None else None
    # LeRaC scales are relative to the base rate, which only official mode's float rounding sees.
    lerac = (
        LeracSchedule.from_config(plan.lerac, lerac_groups, plan.total_steps, base_lr=1.0)
        if plan.lerac is not None
        else None
    )
    rows = []
    for stage in plan.stages:
        for step in range(stage.start, stage.stop, sampler.bucket_steps):
            info = sampler.info(step)
            at = blur.at(step) if blur is not None else None
            rows.append(
                {
                    "step": step,
                    "stage": info.stage,
                    "pool": list(info.pool),
                    "effective_fraction": info.effective_fraction,
                    "temperature": info.temperature,
                    "blur_sigma": at.sigma if at is not None else 0.0,
                    "blur_prob": at.prob if at is not None else 0.0,
                    "lr_scale_min": lerac.min_scale(step) if lerac is not None else 1.0,
                }
            )
    return pd.DataFrame(rows, columns=PREVIEW_SCHEMA.names)


def plot_preview(table: pd.DataFrame, plan: CurriculumPlan, out_png: PathLike,
                 blocks: Sequence[tuple[str, pd.DataFrame, CurriculumPlan]] | None = None) -> None:
    """Effective fraction and temperature over steps, stage boundaries dashed; written atomically.

    ``blocks`` (label, table, plan): one column of panels per learner schedule; else ``table`` / ``plan``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = list(blocks) if blocks else [("", table, plan)]
    fig, axes = plt.subplots(2, len(blocks), figsize=(7 * len(blocks), 5), sharex="col", squeeze=False)
    for col, (label, block, block_plan) in enumerate(blocks):
        _draw_preview(axes[0][col], axes[1][col], block, block_plan, label)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _draw_preview(ax_r: Any, ax_t: Any, table: pd.DataFrame, plan: CurriculumPlan, label: str) -> None:
    steps = table["step"].to_numpy()
    ax_r.step(steps, table["effective_fraction"], where="post", color="tab:blue")
    ax_r.set_ylabel("effective fraction")
    ax_r.set_ylim(0, 1.05)
    temperature = table["temperature"].to_numpy(dtype=np.float64)
    finite = np.isfinite(temperature)
    if finite.any():
        ax_t.step(steps[finite], temperature[finite], where="post", color="tab:orange")
        ax_t.set_yscale("log")
        after = ~finite & ~np.isnan(temperature)
        if after.any():
            ax_t.plot(steps[after], np.full(after.sum(), temperature[finite].max()), "|", color="tab:gray",
                      label="uniform (after warm-up)")
            ax_t.legend(loc="lower right", fontsize=8)
    else:
        ax_t.text(0.5, 0.5, "uniform sampling (no weighting)", ha="center", va="center", transform=ax_t.transAxes)
    ax_t.set_ylabel("temperature")
    ax_t.set_xlabel("step")
    for ax in (ax_r, ax_t):
        for stage in plan.stages[1:]:
            ax.axvline(stage.start, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, plan.total_steps)
    labels = ", ".join(f"{s.index}: {'+'.join(s.groups)}" for s in plan.stages)
    learner = f"{label}: " if label else ""
    ax_r.set_title(f"{learner}curriculum {plan.name}, {plan.total_steps} steps  (stages {labels})", fontsize=9)


def build_preview(
    *,
    name: str,
    curriculum: CurriculumConfig,
    groups: Sequence[str],
    clip_tables: Sequence[PathLike],
    difficulty: PathLike | None,
    steps_per_stage: int,
    bucket_steps: int | Literal["auto"],
    out_table: PathLike,
    out_plot: PathLike,
    learners: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Write ``results/curricula/{name}.parquet`` and its PNG; returns the table (:data:`PREVIEW_FILE_SCHEMA`).

    ``learners`` maps each model that trains the curriculum to its own ``steps_per_stage`` and
    ``bucket_steps`` (``models.<name>.pretrain`` over ``pretrain``): one block of rows per learner,
    in the order given. Without it (no run trains the curriculum) the one block is the shared
    ``steps_per_stage`` / ``bucket_steps`` (the ``pretrain`` keys that shape the schedule), ``model`` null.
    ``difficulty`` is the difficulty table (needed when the curriculum weights by difficulty).
    """
    schedules: dict[str | None, Mapping[str, Any]] = {None: {"steps_per_stage": steps_per_stage,
                                                             "bucket_steps": bucket_steps}}
    if learners:
        schedules = {str(model): schedule for model, schedule in learners.items()}
    pools, difficulties = load_pools(clip_tables, difficulty)
    parts: list[pd.DataFrame] = []
    drawn: list[tuple[str, pd.DataFrame, CurriculumPlan]] = []
    seen: dict[tuple[int, str], int] = {}
    total_steps: dict[str, int] = {}
    for model, schedule in schedules.items():
        # a `seed: run` order differs per run: the preview shows run seed 0's (metrics.parquet has each run's)
        plan = CurriculumPlan.from_config(name=name, curriculum=curriculum, groups=groups,
                                          steps_per_stage=int(schedule["steps_per_stage"]), run_seed=0)
        table = preview_table(plan, pools, difficulties, schedule["bucket_steps"])
        parts.append(table.assign(model=model)[PREVIEW_FILE_SCHEMA.names])
        total_steps[str(model)] = plan.total_steps
        key = (int(schedule["steps_per_stage"]), str(schedule["bucket_steps"]))
        if key in seen:  # learners with one schedule share a panel
            drawn[seen[key]] = (f"{drawn[seen[key]][0]}, {model}", *drawn[seen[key]][1:])
        else:
            seen[key] = len(drawn)
            drawn.append((model or "", table, plan))
    full = pd.concat(parts, ignore_index=True)
    arrow = table_from_columns({c: full[c].tolist() for c in PREVIEW_FILE_SCHEMA.names}, PREVIEW_FILE_SCHEMA)
    meta = provenance(
        "build_curriculum",
        {"curriculum": curriculum.shaping(), "schedules": {str(m): dict(v) for m, v in schedules.items()}},
        curriculum=name,
        total_steps=total_steps,
    )
    write_table(arrow, out_table, metadata=meta)
    plot_preview(drawn[0][1], drawn[0][2], out_plot, blocks=drawn)
    weighted = not math.isnan(float(full["temperature"].iloc[0]))
    log.info("curriculum %s: %s, weighted=%s -> %s", name,
             "; ".join(f"{label or 'pretrain'}: {len(plan.stages)} stages, {plan.total_steps} steps"
                       for label, _, plan in drawn), weighted, out_table)
    return full
