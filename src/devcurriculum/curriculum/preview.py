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
from devcurriculum.config.models import FoldRule
from devcurriculum.curriculum.blur import BlurSchedule
from devcurriculum.curriculum.controls import control_pools, preview_controls, read_complexity
from devcurriculum.curriculum.folds import preview_folds, read_folds
from devcurriculum.curriculum.lerac import LeracSchedule
from devcurriculum.curriculum.plan import CurriculumPlan
from devcurriculum.curriculum.pools import load_pools
from devcurriculum.curriculum.sampler import CurriculumSampler
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.io import provenance, read_table, table_from_columns, write_table
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
#: added for a ``control``: the clips a bucket draws from, how far their complexity is from the target's, static frames
CONTROL_FIELDS = (
    pa.field("control_clips", pa.int64()),
    pa.field("control_ks", pa.float64()),
    pa.field("static_frames", pa.bool_()),
)
#: added for ``stage_data: seed_folds``: which fold a run of each seed residue trains on (folds.preview_folds)
FOLD_FIELDS = (
    pa.field("fold_rotating", pa.list_(pa.int32())),
    pa.field("fold_fixed", pa.list_(pa.int32())),
    pa.field("fold_clips", pa.list_(pa.int64())),
)
#: ``curricula/{name}.parquet``: the preview of every learner that trains the curriculum, one block of
#: rows each, at its own ``steps_per_stage`` / ``bucket_steps`` (models.<name>.pretrain over pretrain);
#: ``model`` is null for the shared ``pretrain`` schedule (no run trains the curriculum)
PREVIEW_FILE_SCHEMA = pa.schema([pa.field("model", pa.string()), *PREVIEW_SCHEMA])


def _file_schema(extra: Sequence[pa.Field]) -> pa.Schema:
    """The file's schema with the optional column groups (controls, folds) the curriculum needs."""
    return pa.schema([*PREVIEW_FILE_SCHEMA, *extra])


def preview_table(
    plan: CurriculumPlan,
    pools: Mapping[str, np.ndarray],
    difficulty: np.ndarray | None,
    bucket_steps: int | Literal["auto"],
    lerac_groups: int = DEFAULT_LERAC_GROUPS,
    folds: np.ndarray | None = None,
    block_steps: int | None = None,
    fold_rule: FoldRule | None = None,
) -> pd.DataFrame:
    """One row per step bucket (buckets restart at every stage boundary, as in the sampler).

    Columns: step, stage, pool (list of groups), effective_fraction, temperature (NaN when
    unweighted, inf after the warm-up), blur_sigma, blur_prob, lr_scale_min. With ``folds`` (the
    fold of every pool index, ``stage_data: seed_folds``) also ``fold_rotating``, ``fold_fixed`` and
    ``fold_clips`` (:func:`~devcurriculum.curriculum.folds.preview_folds`, ``fold_rule`` the curriculum's,
    None when each model uses its own); a bucket's stage (block) is ``step // block_steps``
    (``pretrain.steps_per_stage``; default: the plan's stage index).
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
    table = pd.DataFrame(rows, columns=PREVIEW_SCHEMA.names)
    if folds is None:
        return table
    steps, stages = table["step"].tolist(), table["stage"].tolist()
    blocks = [step // block_steps if block_steps else stage for step, stage in zip(steps, stages, strict=True)]
    columns = preview_folds(blocks, [sampler.pool_at(step) for step in steps], np.asarray(folds), fold_rule)
    return table.assign(**{name: pd.Series(values, dtype=object) for name, values in columns.items()})


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
    folds: PathLike | None = None,
    complexity: PathLike | None = None,
    learners: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Write ``results/curricula/{name}.parquet`` and its PNG; returns the table (:data:`PREVIEW_FILE_SCHEMA`).

    ``learners`` maps each model that trains the curriculum to its own ``steps_per_stage`` and
    ``bucket_steps`` (``models.<name>.pretrain`` over ``pretrain``): one block of rows per learner,
    in the order given. Without it (no run trains the curriculum) the one block is the shared
    ``steps_per_stage`` / ``bucket_steps`` (the ``pretrain`` keys that shape the schedule), ``model`` null.
    ``difficulty`` is the difficulty table (needed when the curriculum weights by difficulty);
    ``folds`` is the curriculum's fold table (``{name}.folds.parquet``, needed for ``seed_folds``);
    ``complexity`` the per-clip complexity (``complexity.parquet``, needed for a ``control`` with ``match``),
    whose matched pools the preview then samples from.
    """
    schedules: dict[str | None, Mapping[str, Any]] = {None: {"steps_per_stage": steps_per_stage,
                                                             "bucket_steps": bucket_steps}}
    if learners:
        schedules = {str(model): schedule for model, schedule in learners.items()}
    pools, difficulties = load_pools(clip_tables, difficulty)
    fold_of = None
    extra: list[pa.Field] = []
    control, measured = curriculum.control, None
    if curriculum.stage_data == "seed_folds" or control is not None:
        clip_ids = pd.concat([read_table(p, columns=["clip_id"]).to_pandas()["clip_id"] for p in clip_tables],
                             ignore_index=True)
    if control is not None:
        if control.match is not None:
            if complexity is None:
                raise ValueError(f"curricula.{name}.control.match: the preview needs the complexity table")
            measured = read_complexity(complexity, clip_ids.astype(str))
        pools, _ = control_pools(control, pools, measured, groups, name=name)
        extra += CONTROL_FIELDS
    if curriculum.stage_data == "seed_folds":
        if folds is None:
            raise ValueError(f"curricula.{name}.stage_data is seed_folds: the preview needs its fold table")
        fold_of = read_folds(folds, clip_ids)
        extra += FOLD_FIELDS
    schema = _file_schema(extra)
    parts: list[pd.DataFrame] = []
    drawn: list[tuple[str, pd.DataFrame, CurriculumPlan]] = []
    seen: dict[tuple[int, str], int] = {}
    total_steps: dict[str, int] = {}
    for model, schedule in schedules.items():
        # a `seed: run` order differs per run: the preview shows run seed 0's (metrics.parquet has each run's)
        steps = int(schedule["steps_per_stage"])
        plan = CurriculumPlan.from_config(name=name, curriculum=curriculum, groups=groups,
                                          steps_per_stage=steps, run_seed=0)
        table = preview_table(plan, pools, difficulties, schedule["bucket_steps"], folds=fold_of, block_steps=steps,
                              fold_rule=curriculum.fold_rule)
        if control is not None:
            table = table.assign(**{k: pd.Series(v, dtype=object) for k, v in
                                    preview_controls(control, table["pool"].tolist(), pools, measured, groups).items()})
        parts.append(table.assign(model=model)[schema.names])
        total_steps[str(model)] = plan.total_steps
        key = (steps, str(schedule["bucket_steps"]))
        if key in seen:  # learners with one schedule share a panel
            drawn[seen[key]] = (f"{drawn[seen[key]][0]}, {model}", *drawn[seen[key]][1:])
        else:
            seen[key] = len(drawn)
            drawn.append((model or "", table, plan))
    full = pd.concat(parts, ignore_index=True)
    arrow = table_from_columns({c: full[c].tolist() for c in schema.names}, schema)
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
