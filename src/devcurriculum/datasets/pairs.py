"""Stage ``chunk_pairs``: frame pairs across whole videos, decoded once into a pair cache per age group.

Models with ``gap_seconds`` (V-JEPA in ``pairs`` mode, SimCLR) train on two frames of one video
``gap_seconds`` apart, anywhere in the video. For every distinct ``gap_seconds`` ``G`` of the config's
models and every ``ok`` video (``videos.parquet``, with its own ``fps``):

- the gap in source frames is ``g = round(G * fps)`` (halves up, at least 1);
- anchors (first frames) are ``0, s, 2s, ...`` with ``s = max(1, round(data.pairs.anchor_seconds * fps))``,
  as long as ``anchor + g <= n_frames - 1``: the second frame is always in the same video, and a video
  of ``g`` frames or fewer gives no pair for that gap (named in a WARNING);
- each pair is stored as a two-frame clip ``(2, size, size, 3)`` in the clip cache's shard formats
  (``datasets.clip_store``), so :class:`~devcurriculum.datasets.clip_dataset.ClipCache` reads it.

The pair index has the clip index's columns (``start_frame`` = the anchor, ``frame_step`` = ``g``,
``n_frames`` = 2, ``clip_id`` = ``{video_id}:{anchor}:{G}s``) plus ``gap_seconds``, rows ordered by
video, gap and anchor. A video is decoded once for all its gaps (every pair written as soon as its
second frame is decoded), so a job holds at most one gap span of the needed frames in memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from devcurriculum.config import CacheConfig, PairConfig
from devcurriculum.datasets.clip_store import ShardWriter, open_writer, remove_stale_temp_files
from devcurriculum.datasets.clips import CLIP_SCHEMA, gather_clip_index, write_frame_sets
from devcurriculum.datasets.decode import VideoDecodeError
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.io import provenance, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import progress_bar

__all__ = [
    "PAIR_INDEX_SCHEMA",
    "PAIR_SCHEMA",
    "chunk_pair_shard",
    "frames_for",
    "gather_pair_index",
    "pair_plan",
]

log = logging.getLogger("devcurriculum.datasets.pairs")

STAGE = "chunk_pairs"
PAIR_SCHEMA = CLIP_SCHEMA.append(pa.field("gap_seconds", pa.float64(), nullable=False))
PAIR_INDEX_SCHEMA = PAIR_SCHEMA.append(pa.field("shard", pa.int32(), nullable=False)).append(
    pa.field("shard_row", pa.int64(), nullable=False)
)
PAIR_SHARD_SCHEMA = pa.schema(
    [f for f in PAIR_SCHEMA if f.name != "cache_row"]
    + [pa.field("video_index", pa.int64(), nullable=False), pa.field("shard_row", pa.int64(), nullable=False)]
)
SORT_KEYS = ("video_index", "gap_seconds", "start_frame")


def frames_for(seconds: float, fps: float) -> int:
    """``seconds`` of a video at ``fps`` in source frames: ``round(seconds * fps)``, halves up, at least 1."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    return max(1, math.floor(seconds * fps + 0.5))


def pair_plan(n_frames: int, fps: float, gaps: Sequence[float], anchor_seconds: float) -> list[tuple[float, int, np.ndarray]]:
    """Per gap in seconds: ``(gap_seconds, gap_frames, anchors)`` of one video (anchors int64, maybe empty)."""
    step = frames_for(anchor_seconds, fps)
    plan = []
    for gap in gaps:
        g = frames_for(gap, fps)
        last = n_frames - 1 - g
        anchors = np.arange(0, last + 1, step, dtype=np.int64) if last >= 0 else np.empty(0, dtype=np.int64)
        plan.append((float(gap), g, anchors))
    return plan


def _video_rows(plan: list[tuple[float, int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame sets ``(K, 2)``, gap seconds and gap frames of a video's pairs, in write order (by second frame)."""
    anchors = np.concatenate([a for _, _, a in plan]) if plan else np.empty(0, dtype=np.int64)
    gap_frames = np.concatenate([np.full(len(a), g, dtype=np.int64) for _, g, a in plan]) if plan else anchors
    gap_s = np.concatenate([np.full(len(a), s) for s, _, a in plan]) if plan else anchors.astype(np.float64)
    sets = np.stack([anchors, anchors + gap_frames], axis=1)
    order = np.lexsort((sets[:, 0], sets[:, 1]))  # by second frame, then first
    return sets[order], gap_s[order], gap_frames[order]


def _log_short(where: str, video: Mapping[str, Any], plan: list[tuple[float, int, np.ndarray]]) -> None:
    for gap, g, anchors in plan:
        if len(anchors) == 0:
            log.warning(
                "%s: video %s (%s, %d frames at %g fps) is not longer than gap_seconds=%g (%d frames) and gives no "
                "pairs for that gap", where, video["path"], video["video_id"], int(video["n_frames"]),
                float(video["fps"]), gap, g,
            )


def _stage_config(gaps: Sequence[float], pairs: PairConfig, size: int, cache: CacheConfig) -> dict[str, Any]:
    return {"gaps": [float(g) for g in gaps], "pairs": pairs.shaping(), "size": int(size), "cache": cache.shaping()}


def _fill(
    videos: Sequence[Mapping[str, Any]], rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int,
    writer: ShardWriter, where: str,
) -> tuple[list[int], list[tuple[str, str]]]:
    """Write every video's pairs; returns the positions (in ``videos``) of videos kept and the failures."""
    kept: list[int] = []
    failed: list[tuple[str, str]] = []
    for pos, (video, (sets, _, _)) in enumerate(progress_bar(list(zip(videos, rows, strict=True)),
                                                              desc=f"pairs {where}", unit="video")):
        if len(sets) == 0:
            continue
        first_row = writer.rows
        try:
            written = write_frame_sets(video["path"], sets, size, writer)
            if written < len(sets):
                raise VideoDecodeError(
                    f"decoding stopped before frame {int(sets[written, 1])} (index says {video['n_frames']} frames)",
                    "truncated",
                )
        except VideoDecodeError as exc:
            writer.rollback(first_row)
            failed.append((video["path"], str(exc)))
            log.error("skipping video %s (%s) in %s: %s", video["video_id"], video["path"], where, exc)
            continue
        kept.append(pos)
    return kept, failed


def _shard_table(
    videos: Sequence[Mapping[str, Any]], rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], kept: list[int],
    group: str,
) -> pa.Table:
    parts = [(videos[p], rows[p]) for p in kept]
    n = sum(len(r[0]) for _, r in parts)

    def repeat(key: str) -> list[Any]:
        return [v[key] for v, r in parts for _ in range(len(r[0]))]

    anchors = np.concatenate([r[0][:, 0] for _, r in parts]) if parts else np.empty(0, dtype=np.int64)
    gap_frames = np.concatenate([r[2] for _, r in parts]) if parts else np.empty(0, dtype=np.int64)
    gap_s = np.concatenate([r[1] for _, r in parts]) if parts else np.empty(0, dtype=np.float64)
    video_id = pa.array(repeat("video_id"), type=pa.string())
    suffix = pa.array([f"{g:g}s" for g in gap_s.tolist()], type=pa.string())
    columns = {
        "clip_id": pc.binary_join_element_wise(video_id, pa.array(anchors).cast(pa.string()), suffix, ":"),
        "video_id": video_id,
        "subject": pa.array(repeat("subject"), type=pa.string()),
        "age_days": pa.array(repeat("age_days"), type=pa.float64()),
        "age_group": pa.array([group] * n, type=pa.string()),
        "start_frame": pa.array(anchors, type=pa.int64()),
        "frame_step": pa.array(gap_frames, type=pa.int64()),
        "n_frames": pa.array(np.full(n, 2), type=pa.int64()),
        "gap_seconds": pa.array(gap_s, type=pa.float64()),
        "video_index": pa.array(repeat("video_index"), type=pa.int64()),
        "shard_row": pa.array(np.arange(n), type=pa.int64()),
    }
    return table_from_columns(columns, PAIR_SHARD_SCHEMA)


def chunk_pair_shard(
    *,
    videos: Sequence[Mapping[str, Any]],
    group: str,
    gaps: Sequence[float],
    pairs: PairConfig,
    size: int,
    cache: CacheConfig,
    out_table: PathLike,
    out_cache: PathLike,
    where: str | None = None,
) -> int:
    """Write the pairs of ``videos`` (rows of ``group_videos(..., extra=["fps"])``) into one shard; returns pairs written.

    A video that fails to decode is logged, recorded in the table's metadata and skipped.
    """
    if not gaps:
        raise ValueError("no gap_seconds given: the pair cache is only built for models with gap_seconds")
    where = where or f"group {group!r}"
    for path in (out_table, out_cache):
        remove_stale_temp_files(path)
    plans = [pair_plan(int(v["n_frames"]), float(v["fps"]), gaps, pairs.anchor_seconds) for v in videos]
    for video, plan in zip(videos, plans, strict=True):
        _log_short(where, video, plan)
    rows = [_video_rows(p) for p in plans]
    capacity = sum(len(r[0]) for r in rows)
    log.info("%s: %d videos, %d pairs planned for gaps %s s", where, len(videos), capacity, list(gaps))
    pair_shape = (2, size, size, 3)
    with atomic_path(out_cache) as tmp_cache:
        writer = open_writer(cache.format, tmp_cache, pair_shape, capacity, cache.quality, out_cache)
        try:
            kept, failed = _fill(videos, rows, size, writer, where)
        finally:
            writer.close()
    table = _shard_table(videos, rows, kept, group)
    meta = provenance(
        STAGE, _stage_config(gaps, pairs, size, cache), group=group, clip_shape=list(pair_shape),
        failed_videos=[{"path": p, "error": e} for p, e in failed],
    )
    write_table(table, out_table, metadata=meta)
    log.info("%s: wrote %d pairs of %s (%s) to %s", where, table.num_rows, pair_shape, cache.format, out_cache)
    return table.num_rows


def gather_pair_index(
    *, shard_tables: Sequence[PathLike], shard_caches: Sequence[PathLike], group: str, out_index: PathLike
) -> int:
    """One pair index for ``group`` over its shards (rows by video, gap, anchor), read by ``ClipCache``."""
    return gather_clip_index(
        shard_tables=shard_tables, shard_caches=shard_caches, group=group, out_index=out_index, stage=STAGE,
        shard_schema=PAIR_SHARD_SCHEMA, index_schema=PAIR_INDEX_SCHEMA, sort_keys=SORT_KEYS,
    )
