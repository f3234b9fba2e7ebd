"""The seed study's data per stage: folds of an age group cut from 30-minute segments (``stage_data: seed_folds``).

The seed study (Sheybani et al. 2023, ``homeview.get_fold``) trained each stage on one *fold* of the
stage's age group, a third of it. It concatenated the group's frames (subjects in list order, frames by
file name), cut the concatenation into segments of 54 000 frames (30 min at 30 fps) and dealt them
round-robin: segment ``k`` belongs to fold ``k % 3``. Here, per age group:

- the group's ``ok`` videos (``videos.parquet``) are concatenated in a defined order, by subject, then
  age, then path (the reference's subjects in list order, each subject's recordings in name order);
  video ``v`` starts at ``offset_v`` seconds, the sum of the durations ``n_frames / fps`` before it;
- a clip (or a frame pair) starting at source frame ``s`` of video ``v`` sits at
  ``position = offset_v + s / fps`` seconds, each video with its own fps; its segment is
  ``floor(position / segment_seconds)`` and its fold ``segment % 3``. A clip whose frames straddle a
  segment boundary belongs to the segment of its **start frame** (the reference cut frame lists,
  so its windows could straddle chunks and subjects; ours never cross a video);
- a group with less than ``3 * segment_seconds`` of video is refused (``ValueError`` naming the group
  and its duration): its folds would not be thirds (with 30-minute segments, one segment would be all
  of a short group's data). Use ``segment_seconds`` to scale segments to a small corpus.

Which fold a stage trains on (:func:`stage_fold`), stage ``k`` counted from 1 as in the reference:
``rotating`` = ``(seed + k) % 3`` (the seed study's VideoMAE: a different third per stage), ``fixed``
= ``seed % 3`` (its V-JEPA, SimCLR and complexity controls: one third throughout). The rule is the
curriculum's ``fold_rule`` when set, else the model's (``models.<name>.fold_rule``,
:func:`fold_rule_for`). A "stage" is a block of ``pretrain.steps_per_stage`` steps, the sampler's
``block_steps``: stage k of an ordered curriculum, the k-th share of a ``mixed`` run's one stage.

The reference used only the first ``N * stride`` frames of a fold (its ``n_trainsamples``); here a
stage draws uniformly from its whole fold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.config import CurriculumConfig, ModelConfig
from devcurriculum.config.models import FoldRule
from devcurriculum.utils.io import provenance, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

__all__ = [
    "FOLD_SCHEMA",
    "N_FOLDS",
    "assign_folds",
    "fold_rule_for",
    "fold_stage_rows",
    "preview_folds",
    "read_folds",
    "run_fold_rows",
    "stage_fold",
    "video_offsets",
    "write_fold_table",
]

log = logging.getLogger("devcurriculum.curriculum.folds")

#: folds per age group (the reference's ``max_folds``)
N_FOLDS = 3
#: both fold rules, in the order of the preview's columns
FOLD_RULES: tuple[FoldRule, ...] = ("rotating", "fixed")

#: ``results/curricula/{name}.folds.parquet``: every clip of data.clip's cache with its place in the folds
FOLD_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("age_group", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("position_s", pa.float64(), nullable=False),
        pa.field("segment", pa.int64(), nullable=False),
        pa.field("fold", pa.int32(), nullable=False),
    ]
)
VIDEO_COLUMNS = ("video_id", "path", "subject", "age_days", "age_group", "fps", "n_frames", "status")


def stage_fold(rule: FoldRule, seed: int, stage: int) -> int:
    """The fold that 0-based stage (block) ``stage`` of a run with ``seed`` trains on.

    ``rotating``: ``(seed + stage + 1) % 3`` (the reference's ``(seed + s) % 3`` with s counted from 1);
    ``fixed``: ``seed % 3``.
    """
    if stage < 0:
        raise ValueError(f"stage must be >= 0, got {stage}")
    if rule == "rotating":
        return (int(seed) + int(stage) + 1) % N_FOLDS
    if rule == "fixed":
        return int(seed) % N_FOLDS
    raise ValueError(f"fold_rule must be 'rotating' or 'fixed', got {rule!r}")


def fold_rule_for(curriculum: CurriculumConfig, model: ModelConfig) -> FoldRule:
    """The fold rule of a run: the curriculum's ``fold_rule`` when set, else the model's."""
    return curriculum.fold_rule if curriculum.fold_rule is not None else model.fold_rule


def video_offsets(videos: pd.DataFrame, segment_seconds: float) -> pd.DataFrame:
    """Per ``ok`` video: its group, fps and start ``offset_s`` in its group's concatenation (module docstring).

    A group with less than ``N_FOLDS * segment_seconds`` of video is an error naming it.
    """
    missing = [c for c in VIDEO_COLUMNS if c not in videos.columns]
    if missing:
        raise ValueError(f"the video index lacks column(s) {missing} (is it results/data/videos.parquet?)")
    if not segment_seconds > 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    ok = videos[videos["status"] == "ok"].copy()
    bad = ok[~(ok["fps"].astype(float) > 0) | ~(ok["n_frames"].astype(float) > 0)]
    if len(bad):
        raise ValueError(f"videos without a positive fps / frame count cannot be placed in folds: "
                         f"{bad['path'].head(5).tolist()}")
    ok = ok.sort_values(["age_group", "subject", "age_days", "path", "video_id"], kind="stable")
    ok["duration_s"] = ok["n_frames"].astype(np.float64) / ok["fps"].astype(np.float64)
    ok["offset_s"] = ok.groupby("age_group", sort=False)["duration_s"].cumsum() - ok["duration_s"]
    totals = ok.groupby("age_group", sort=True)["duration_s"].sum()
    short = totals[totals < N_FOLDS * segment_seconds]
    if len(short):
        group, total = str(short.index[0]), float(short.iloc[0])
        raise ValueError(
            f"stage_data: seed_folds needs at least {N_FOLDS} segments of segment_seconds={segment_seconds:g} s of "
            f"video per age group, but group {group} has {total:.1f} s ({total / segment_seconds:.2f} segments)"
            + (f"; also short: {', '.join(map(str, short.index[1:]))}" if len(short) > 1 else "")
            + f". Lower curricula.<name>.segment_seconds to at most {total / N_FOLDS:.1f}, or train on whole groups"
        )
    return ok[["video_id", "age_group", "subject", "fps", "duration_s", "offset_s"]].reset_index(drop=True)


def assign_folds(rows: pd.DataFrame, videos: pd.DataFrame, segment_seconds: float) -> pd.DataFrame:
    """``rows`` (clips or frame pairs: ``video_id``, ``start_frame``) with ``start_s``, ``position_s``,
    ``segment`` and ``fold`` added, in the same order.

    ``videos`` is ``videos.parquet`` as a frame. A row whose video is not an ``ok`` video of the index
    is an error naming it.
    """
    for column in ("video_id", "start_frame"):
        if column not in rows.columns:
            raise ValueError(f"rows to place in folds need a {column!r} column (a clip or pair index)")
    offsets = video_offsets(videos, segment_seconds).set_index("video_id")
    known = rows["video_id"].isin(offsets.index)
    if not known.all():
        raise ValueError(f"{int((~known).sum())} row(s) come from videos that are not ok videos of the index, "
                         f"e.g. {rows.loc[~known, 'video_id'].head(3).tolist()}")
    placed = offsets.reindex(rows["video_id"])
    start_s = rows["start_frame"].to_numpy(np.float64) / placed["fps"].to_numpy(np.float64)
    position_s = placed["offset_s"].to_numpy(np.float64) + start_s
    segment = np.floor(position_s / float(segment_seconds)).astype(np.int64)
    out = rows.copy()
    out["start_s"] = start_s
    out["position_s"] = position_s
    out["segment"] = segment
    out["fold"] = (segment % N_FOLDS).astype(np.int32)
    return out


def fold_stage_rows(folds: np.ndarray, rule: FoldRule, seed: int) -> Callable[[int], np.ndarray]:
    """For the sampler's ``stage_rows``: block k may draw the rows of fold :func:`stage_fold` ``(rule, seed, k)``."""
    held = np.asarray(folds)

    def rows(block: int) -> np.ndarray:
        return held == stage_fold(rule, seed, block)

    return rows


def run_fold_rows(
    curriculum: CurriculumConfig, model: ModelConfig, seed: int, table: pd.DataFrame, videos_parquet: PathLike | None,
    *, name: str, blocks: int,
) -> Callable[[int], np.ndarray] | None:
    """The training run's fold restriction (``stage_rows``) of its rows ``table``, or None for ``whole``.

    Logs which fold every block of the run trains on and its share of the rows.
    """
    if curriculum.stage_data != "seed_folds":
        return None
    if videos_parquet is None:
        raise ValueError(f"curricula.{name}.stage_data is seed_folds: pass the video index (--videos)")
    videos = read_table(videos_parquet).to_pandas()
    placed = assign_folds(table, videos, curriculum.segment_seconds)
    folds = placed["fold"].to_numpy()
    held = {(str(g), int(f)) for g, f in zip(placed["age_group"], folds, strict=True)} if "age_group" in placed else None
    if held is not None:
        for group in sorted(set(placed["age_group"].astype(str))):
            missing = [f for f in range(N_FOLDS) if (group, f) not in held]
            if missing:
                raise ValueError(f"curricula.{name}: fold {missing[0]} of group {group} holds no training row "
                                 f"(segment_seconds={curriculum.segment_seconds:g}); lower segment_seconds")
    rule = fold_rule_for(curriculum, model)
    chosen = [stage_fold(rule, seed, k) for k in range(blocks)]
    shares = [float(np.mean(folds == f)) for f in chosen]
    log.info("curricula.%s: seed_folds (%s rule, seed %d, %g s segments): folds per stage %s, shares of the rows %s",
             name, rule, seed, curriculum.segment_seconds, chosen, [round(s, 3) for s in shares])
    return fold_stage_rows(folds, rule, seed)


def write_fold_table(
    *, clip_tables: Sequence[PathLike], videos_parquet: PathLike, segment_seconds: float, curriculum: str,
    out_path: PathLike,
) -> pd.DataFrame:
    """``results/curricula/{curriculum}.folds.parquet``: every clip of ``clip_tables`` with its segment and fold."""
    frames = [read_table(p, columns=["clip_id", "age_group", "video_id", "subject", "start_frame"]).to_pandas()
              for p in clip_tables]
    clips = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(FOLD_SCHEMA.names[:5]))
    placed = assign_folds(clips, read_table(videos_parquet).to_pandas(), segment_seconds)
    table = table_from_columns({n: placed[n].tolist() for n in FOLD_SCHEMA.names}, FOLD_SCHEMA)
    counts = placed.groupby(["age_group", "fold"]).size().unstack(fill_value=0).reindex(columns=range(N_FOLDS),
                                                                                        fill_value=0)
    empty = [(str(g), int(f)) for g, row in counts.iterrows() for f in range(N_FOLDS) if row[f] == 0]
    if empty:
        group, fold = empty[0]
        raise ValueError(f"curricula.{curriculum}: fold {fold} of group {group} holds no clip (segments of "
                         f"segment_seconds={segment_seconds:g} s and clips of data.clip do not overlap there); "
                         "lower segment_seconds or data.clip.stride")
    write_table(table, out_path, metadata=provenance(
        "assign_folds", {"segment_seconds": segment_seconds, "n_folds": N_FOLDS}, curriculum=curriculum,
        clips_per_fold={str(g): [int(v) for v in row] for g, row in counts.iterrows()},
    ))
    log.info("folds of curriculum %s (%g s segments): clips per group and fold %s", curriculum, segment_seconds,
             counts.to_dict(orient="index"))
    return placed


def preview_folds(
    block_of: Sequence[int], stage_pools: Sequence[np.ndarray], folds: np.ndarray, rule: FoldRule | None,
) -> dict[str, list[object]]:
    """The preview's fold columns for buckets in blocks ``block_of`` whose pools are ``stage_pools``.

    ``fold_rotating`` / ``fold_fixed``: per bucket, the fold a run with seed ``s`` trains on at
    position ``s % 3`` of the list, under either rule (the one the curriculum does not use is None when
    it sets ``fold_rule``); ``fold_clips``: how many of the pool's clips each fold 0, 1, 2 holds.
    """
    columns: dict[str, list[object]] = {"fold_rotating": [], "fold_fixed": [], "fold_clips": []}
    for block, pool in zip(block_of, stage_pools, strict=True):
        for which in FOLD_RULES:
            values = [stage_fold(which, s, block) for s in range(N_FOLDS)]
            columns[f"fold_{which}"].append(values if rule in (None, which) else None)
        held = folds[np.asarray(pool, dtype=np.int64)]
        columns["fold_clips"].append([int(np.sum(held == f)) for f in range(N_FOLDS)])
    return columns


def read_folds(path: PathLike, clip_ids: pd.Series) -> np.ndarray:
    """The ``fold`` of every clip of ``clip_ids`` from a fold table, joined on clip_id (all must be there)."""
    table = read_table(path, columns=["clip_id", "fold"]).to_pandas()
    lookup = pd.Series(table["fold"].to_numpy(np.int64), index=table["clip_id"])
    values = lookup.reindex(clip_ids.to_numpy())
    if values.isna().any():
        raise ValueError(f"{int(values.isna().sum())} clip(s) have no fold in {path}, e.g. "
                         f"{clip_ids[values.isna().to_numpy()].head(3).tolist()}")
    return values.to_numpy(np.int64)
