"""The ``build_curriculum`` rule: a per-bucket preview of what a curriculum will do, table + plot.

The preview asks the same :class:`CurriculumSampler` the training loop uses for its stage, pool,
temperature and effective fraction, so what is plotted is what is trained; the blur and LeRaC columns
come from the same schedules the loop uses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Literal

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


def plot_preview(table: pd.DataFrame, plan: CurriculumPlan, out_png: PathLike) -> None:
    """Effective fraction and temperature over steps, stage boundaries dashed; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_t) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
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
    ax_r.set_title(f"curriculum {plan.name}  (stages {labels})", fontsize=9)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


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
) -> pd.DataFrame:
    """Write ``results/curricula/{name}.parquet`` and its PNG; returns the table.

    ``difficulty`` is the difficulty table (needed when the curriculum weights by difficulty);
    ``steps_per_stage`` and ``bucket_steps`` are the ``pretrain`` keys that shape the schedule;
    ``folds`` is the curriculum's fold table (``{name}.folds.parquet``, needed for ``seed_folds``);
    ``complexity`` the per-clip complexity (``complexity.parquet``, needed for a ``control`` with ``match``),
    whose matched pools the preview then samples from.
    """
    # a `seed: run` order differs per run: the preview shows run seed 0's (metrics.parquet has each run's)
    plan = CurriculumPlan.from_config(name=name, curriculum=curriculum, groups=groups, steps_per_stage=steps_per_stage,
                                      run_seed=0)
    pools, difficulties = load_pools(clip_tables, difficulty)
    fold_of = None
    fields = list(PREVIEW_SCHEMA)
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
        fields += CONTROL_FIELDS
    if curriculum.stage_data == "seed_folds":
        if folds is None:
            raise ValueError(f"curricula.{name}.stage_data is seed_folds: the preview needs its fold table")
        fold_of = read_folds(folds, clip_ids)
        fields += FOLD_FIELDS
    schema = pa.schema(fields)
    table = preview_table(plan, pools, difficulties, bucket_steps, folds=fold_of, block_steps=steps_per_stage,
                          fold_rule=curriculum.fold_rule)
    if control is not None:
        table = table.assign(**{k: pd.Series(v, dtype=object) for k, v in
                                preview_controls(control, table["pool"].tolist(), pools, measured, groups).items()})
    arrow = table_from_columns({c: table[c].tolist() for c in schema.names}, schema)
    meta = provenance(
        "build_curriculum",
        {"curriculum": curriculum.shaping(), "schedule": {"steps_per_stage": steps_per_stage, "bucket_steps": bucket_steps}},
        curriculum=name,
        total_steps=plan.total_steps,
    )
    write_table(arrow, out_table, metadata=meta)
    plot_preview(table, plan, out_plot)
    weighted = not math.isnan(float(table["temperature"].iloc[0]))
    log.info("curriculum %s: %d stages, %d steps, weighted=%s -> %s", name, len(plan.stages), plan.total_steps,
             weighted, out_table)
    return table
