"""Stage ``chunk_clips``: cut an age group's videos into clips and write the decoded clip cache.

A group is chunked by ``data.chunk_shards`` independent jobs (:func:`assign_shards` gives each job
its videos) and gathered into one clip index (:func:`gather_clip_index`); :func:`chunk_group` does
all three in one call. Each video is decoded once, sequentially; only frames some clip uses are
converted to RGB and resized (in batches), and each clip is written to the shard as soon as its last
frame is ready. A job's memory is therefore one clip span of frames plus the writer's buffer, plus
16 bytes per clip of bookkeeping, whatever the corpus size.

The gathered index lists a group's clips in the order of an unsharded run (videos in
``videos.parquet`` order, clips by start frame) with ``cache_row`` = position 0..N-1, so the
index and the pixels behind each row are the same for any shard count; the columns ``shard`` and
``shard_row`` say where each clip is stored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from devcurriculum.config import CacheConfig, ClipConfig
from devcurriculum.datasets.clip_store import ShardWriter, open_shard, open_writer, remove_stale_temp_files
from devcurriculum.datasets.decode import (
    VideoDecodeError,
    iter_frame_batches,
    resize_short_side_and_center_crop,
)
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.io import provenance, read_metadata, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import progress_bar

__all__ = [
    "CLIP_SCHEMA",
    "INDEX_SCHEMA",
    "assign_shards",
    "chunk_group",
    "chunk_shard",
    "clip_starts",
    "gather_clip_index",
    "group_videos",
    "resize_short_side_and_center_crop",
]

log = logging.getLogger("devcurriculum.datasets.clips")

CLIP_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("age_days", pa.float64(), nullable=False),
        pa.field("age_group", pa.string(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("frame_step", pa.int64(), nullable=False),
        pa.field("n_frames", pa.int64(), nullable=False),
        pa.field("cache_row", pa.int64(), nullable=False),
    ]
)
#: The gathered clip index: CLIP_SCHEMA plus where each clip is stored.
INDEX_SCHEMA = CLIP_SCHEMA.append(pa.field("shard", pa.int32(), nullable=False)).append(
    pa.field("shard_row", pa.int64(), nullable=False)
)
#: One shard's table: the clip columns without the group-wide row, with the video's position in
#: videos.parquet (the gather's sort key) and the row in this shard's cache file.
SHARD_SCHEMA = pa.schema(
    [f for f in CLIP_SCHEMA if f.name != "cache_row"]
    + [pa.field("video_index", pa.int64(), nullable=False), pa.field("shard_row", pa.int64(), nullable=False)]
)
VIDEO_COLUMNS = ("video_id", "path", "subject", "age_days", "age_group", "n_frames", "status")
#: What a shard job needs of each of its videos (JSON-able: Snakemake passes them as params).
PLAN_COLUMNS = ("video_index", "video_id", "path", "subject", "age_days", "n_frames")
RESIZE_BATCH = 32  # frames resized per call: large enough to amortise the call, small in memory


def clip_starts(n_frames: int, frames: int, frame_step: int, stride: int) -> np.ndarray:
    """Start frames 0, stride, 2*stride, ... of the clips that fit entirely inside the video.

    A clip starting at ``s`` uses frames ``s, s+step, ..., s+(frames-1)*step``; it fits when that
    last frame is <= ``n_frames - 1``. Returns int64; empty when the video is shorter than a clip.
    """
    for name, value in (("frames", frames), ("frame_step", frame_step), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    last_start = n_frames - 1 - (frames - 1) * frame_step
    if last_start < 0:
        return np.empty(0, dtype=np.int64)
    return np.arange(0, last_start + 1, stride, dtype=np.int64)


def group_videos(videos_parquet: PathLike, group: str, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The ``ok`` videos of ``group`` in ``videos.parquet`` order, with ``video_index`` = their row there.

    ``extra``: more columns of ``videos.parquet`` to keep (the pair cache needs ``fps``).
    """
    table = read_table(videos_parquet)
    missing = [c for c in (*VIDEO_COLUMNS, *extra) if c not in table.column_names]
    if missing:
        raise ValueError(f"{videos_parquet}: missing column(s) {missing} (is it the output of index_videos?)")
    rows = table.select(list(dict.fromkeys((*VIDEO_COLUMNS, *extra)))).to_pylist()
    return [
        {"video_index": i, **{k: r[k] for k in (*PLAN_COLUMNS[1:], *extra)}}
        for i, r in enumerate(rows)
        if r["status"] == "ok" and r["age_group"] == group
    ]


def assign_shards(videos: Sequence[Mapping[str, Any]], n_shards: int) -> list[list[Mapping[str, Any]]]:
    """Split ``videos`` into ``n_shards`` lists balanced by frame count (greedy, in the order given).

    Each video goes to the shard with the fewest frames so far (ties: the lowest shard), so the
    largest shard exceeds the mean by less than one video. A video's shard depends only on the
    videos before it: appending videos to the manifest changes only the shards that receive them.
    """
    if n_shards < 1:
        raise ValueError(f"data.chunk_shards must be >= 1, got {n_shards}")
    shards: list[list[Mapping[str, Any]]] = [[] for _ in range(n_shards)]
    load = [0] * n_shards
    for video in videos:
        k = min(range(n_shards), key=load.__getitem__)
        shards[k].append(video)
        load[k] += int(video["n_frames"])
    return shards


def write_frame_sets(path: str, frame_sets: np.ndarray, size: int, writer: ShardWriter) -> int:
    """Decode the video at ``path`` once and append one row per frame set to ``writer``; returns rows written.

    ``frame_sets`` is ``(K, F)`` source-frame indices, each row increasing, rows ordered by their last
    frame (so a row is written as soon as its last frame is decoded). Only frames some row uses are
    resized; a frame is kept until no pending row needs it. Fewer than K rows: decoding ended early.
    """
    sets = np.asarray(frame_sets, dtype=np.int64)
    if len(sets) == 0:
        return 0
    last = sets[:, -1]
    # the earliest frame any row from k on still needs (rows are ordered by their last frame only)
    keep = np.minimum.accumulate(sets[::-1, 0])[::-1]
    ready: dict[int, np.ndarray] = {}
    k = 0
    # No backend given: iter_frame_batches chooses it (choose_backend's rule) and reuses the
    # decord reader it checked, instead of indexing the file twice.
    needed = np.unique(sets.ravel())
    for idx, frames in iter_frame_batches(path, needed, batch_size=RESIZE_BATCH, reuse_buffer=True):
        resized = resize_short_side_and_center_crop(frames, size)
        ready.update(zip(idx.tolist(), resized, strict=True))
        newest = int(idx[-1])
        while k < len(sets) and last[k] <= newest:
            writer.append([ready[f] for f in sets[k].tolist()])
            k += 1
        keep_from = int(keep[k]) if k < len(sets) else newest + 1
        for key in [f for f in ready if f < keep_from]:
            del ready[key]
    return k


def _chunk_video(video: Mapping[str, Any], starts: np.ndarray, clip: ClipConfig, writer: ShardWriter) -> list[int]:
    """Decode one video and write its clips at ``writer.rows`` onwards; returns the start of each clip written.

    Raises VideoDecodeError when decoding fails or ends early; the caller rolls back the rows.
    """
    offsets = np.arange(clip.frames, dtype=np.int64) * clip.frame_step
    written = write_frame_sets(video["path"], starts[:, None] + offsets[None, :], clip.size, writer)
    if written < len(starts):
        raise VideoDecodeError(
            f"decoding stopped before clip start {int(starts[written])} (index says {video['n_frames']} frames)",
            "truncated",
        )
    return starts.tolist()


def _log_plan(where: str, plans: list[tuple[Mapping[str, Any], np.ndarray]], clip: ClipConfig) -> None:
    """Log the plan; every video shorter than one clip is named at WARNING (it gives no clips)."""
    too_short = [v for v, s in plans if len(s) == 0]
    for video in too_short:
        log.warning("%s: video %s (%s, %d frames) is shorter than one clip (%d source frames) and gives no clips",
                    where, video["path"], video["video_id"], int(video["n_frames"]), clip.span + 1)
    if too_short:
        log.warning("%s: %d of %d videos are shorter than one clip", where, len(too_short), len(plans))
    log.info("%s: %d videos, %d clips planned", where, len(plans), sum(len(s) for _, s in plans))


def _fill_shard(
    plans: list[tuple[Mapping[str, Any], np.ndarray]], where: str, clip: ClipConfig, writer: ShardWriter
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Chunk every planned video into ``writer``.

    Returns, per clip written, the position of its video in ``plans`` and its start frame (16 bytes
    per clip: the table is built from these at the end), and the videos that failed.
    """
    video_pos = np.empty(writer_capacity(plans), dtype=np.int64)
    start_frames = np.empty_like(video_pos)
    failed: list[tuple[str, str]] = []
    for pos, (video, starts) in enumerate(progress_bar(plans, desc=f"chunk {where}", unit="video")):
        if len(starts) == 0:
            continue
        first_row = writer.rows
        try:
            written = _chunk_video(video, starts, clip, writer)
        except VideoDecodeError as exc:
            writer.rollback(first_row)  # drop this video's partial clips; the next video overwrites them
            failed.append((video["path"], str(exc)))
            log.error("skipping video %s (%s) in %s: %s", video["video_id"], video["path"], where, exc)
            continue
        video_pos[first_row : writer.rows] = pos
        start_frames[first_row : writer.rows] = written
    return video_pos[: writer.rows], start_frames[: writer.rows], failed


def writer_capacity(plans: Sequence[tuple[Mapping[str, Any], np.ndarray]]) -> int:
    """Clips planned (the rows a shard reserves)."""
    return sum(len(s) for _, s in plans)


def _shard_table(
    plans: list[tuple[Mapping[str, Any], np.ndarray]], video_pos: np.ndarray, starts: np.ndarray, group: str,
    clip: ClipConfig,
) -> pa.Table:
    """The shard's clip table from each clip's video position and start frame."""
    videos = pa.Table.from_pylist([dict(v) for v, _ in plans]) if plans else None
    take = pa.array(video_pos, type=pa.int64())

    def column(name: str, type_: pa.DataType) -> pa.Array:
        if videos is None:
            return pa.array([], type=type_)
        return videos.column(name).take(take).cast(type_)

    video_id = column("video_id", pa.string())
    n = len(starts)
    columns = {
        "clip_id": pc.binary_join_element_wise(video_id, pa.array(starts).cast(pa.string()), ":"),
        "video_id": video_id,
        "subject": column("subject", pa.string()),
        "age_days": column("age_days", pa.float64()),
        "age_group": pa.array([group] * n, type=pa.string()),
        "start_frame": pa.array(starts, type=pa.int64()),
        "frame_step": pa.array(np.full(n, clip.frame_step), type=pa.int64()),
        "n_frames": pa.array(np.full(n, clip.frames), type=pa.int64()),
        "video_index": column("video_index", pa.int64()),
        "shard_row": pa.array(np.arange(n), type=pa.int64()),
    }
    return table_from_columns(columns, SHARD_SCHEMA)


def _stage_config(clip: ClipConfig, cache: CacheConfig) -> dict[str, Any]:
    return {"clip": clip.shaping(), "cache": cache.shaping()}


def chunk_shard(
    *,
    videos: Sequence[Mapping[str, Any]],
    group: str,
    clip: ClipConfig,
    cache: CacheConfig,
    out_table: PathLike,
    out_cache: PathLike,
    where: str | None = None,
) -> int:
    """Chunk ``videos`` (rows of :func:`group_videos`, in order) into one shard: ``out_cache`` + ``out_table``.

    The cache file has the format ``cache.format``; a raw file is preallocated on disk first (a
    full disk fails at once naming the file and the bytes needed). A video that fails to decode
    here is logged, recorded in the table's metadata and skipped; the others are kept. Temp files
    of an earlier, killed run of this job are removed first. Returns the number of clips written.
    """
    where = where or f"group {group!r}"
    for path in (out_table, out_cache):
        remove_stale_temp_files(path)
    plans = [(v, clip_starts(int(v["n_frames"]), clip.frames, clip.frame_step, clip.stride)) for v in videos]
    _log_plan(where, plans, clip)
    clip_shape = (clip.frames, clip.size, clip.size, 3)
    with atomic_path(out_cache) as tmp_cache:
        writer = open_writer(cache.format, tmp_cache, clip_shape, writer_capacity(plans), cache.quality, out_cache)
        try:
            video_pos, starts, failed = _fill_shard(plans, where, clip, writer)
        finally:
            writer.close()
    meta = provenance(
        "chunk_clips", _stage_config(clip, cache), group=group, clip_shape=list(clip_shape),
        failed_videos=[{"path": p, "error": e} for p, e in failed],
    )
    write_table(_shard_table(plans, video_pos, starts, group, clip), out_table, metadata=meta)
    if failed:
        log.warning("%s: %d video(s) failed while decoding and were skipped", where, len(failed))
    log.info("%s: wrote %d clips of %s (%s) to %s", where, len(starts), clip_shape, cache.format, out_cache)
    return len(starts)


def _shard_facts(table_path: PathLike, stage: str = "chunk_clips") -> tuple[dict[str, Any], list[int], list[Any]]:
    meta = read_metadata(table_path)
    if meta.get("devcurriculum.stage") != stage or "devcurriculum.clip_shape" not in meta:
        raise ValueError(f"{table_path}: not a {stage} shard table (no clip_shape in its metadata)")
    return (json.loads(meta["devcurriculum.config"]), json.loads(meta["devcurriculum.clip_shape"]),
            json.loads(meta["devcurriculum.failed_videos"]))


def gather_clip_index(
    *, shard_tables: Sequence[PathLike], shard_caches: Sequence[PathLike], group: str, out_index: PathLike,
    stage: str = "chunk_clips", shard_schema: pa.Schema = SHARD_SCHEMA, index_schema: pa.Schema = INDEX_SCHEMA,
    sort_keys: Sequence[str] = ("video_index", "start_frame"),
) -> int:
    """One clip index for ``group`` over its shards: ``out_index`` (``INDEX_SCHEMA``), rows in unsharded order.

    The index's metadata ``devcurriculum.cache`` records the format, the clip shape and the shard
    files (relative to the index's folder), which is all :class:`~devcurriculum.datasets.clip_dataset.ClipCache`
    needs. Every shard must come from the same config and hold as many clips as its table lists.
    """
    if len(shard_tables) != len(shard_caches) or not shard_tables:
        raise ValueError(f"group {group!r}: {len(shard_tables)} shard tables for {len(shard_caches)} shard caches")
    remove_stale_temp_files(out_index)
    config, clip_shape, _ = _shard_facts(shard_tables[0], stage)
    failed: list[Any] = []
    parts = []
    for k, (table_path, cache_path) in enumerate(zip(shard_tables, shard_caches, strict=True)):
        shard_config, shard_shape, shard_failed = _shard_facts(table_path, stage)
        if (shard_config, shard_shape) != (config, clip_shape):
            raise ValueError(f"{table_path}: chunked with {shard_config} but shard 0 with {config}; rerun {stage}")
        failed += shard_failed
        part = read_table(table_path).select(shard_schema.names)
        stored = open_shard(cache_path, config["cache"]["format"]).shape
        if stored[0] != part.num_rows or list(stored[1:]) != clip_shape:
            raise ValueError(f"{cache_path}: holds {stored} but its table {table_path} lists {part.num_rows} clips of {clip_shape}")
        parts.append(part.append_column("shard", pa.array(np.full(part.num_rows, k), type=pa.int32())))
    table = pa.concat_tables(parts)
    order = pc.sort_indices(table, sort_keys=[(key, "ascending") for key in sort_keys])
    table = table.take(order)
    table = table.append_column("cache_row", pa.array(np.arange(table.num_rows), type=pa.int64()))
    folder = Path(out_index).parent
    cache_facts = {
        "format": config["cache"]["format"],
        "clip_shape": clip_shape,
        "shards": [os.path.relpath(Path(p), folder) for p in shard_caches],
    }
    meta = provenance(stage, config, group=group, cache=cache_facts, failed_videos=failed)
    write_table(table.select(index_schema.names).cast(index_schema), out_index, metadata=meta)
    if not table.num_rows:
        log.warning("age group %r has no clips (no usable videos, or all shorter than one clip)", group)
    log.info("group %r: indexed %d clips in %d shard(s) -> %s", group, table.num_rows, len(shard_tables), out_index)
    return table.num_rows


def chunk_group(
    *,
    videos: PathLike,
    group: str,
    clip: ClipConfig,
    out_table: PathLike,
    out_cache: PathLike,
    cache: CacheConfig | None = None,
) -> int:
    """Chunk every ``ok`` video of ``group`` in the video table ``videos`` as one shard, and index it.

    Writes the shard file ``out_cache`` and the clip index ``out_table`` (what the workflow does
    with ``data.chunk_shards: 1``). Clip ids are ``f"{video_id}:{start_frame}"`` (unique across
    groups because video ids are). Returns the number of clips written.
    """
    cache = cache or CacheConfig()
    plan = group_videos(videos, group)
    if not plan:
        log.warning("age group %r has no usable (status ok) videos in %s: writing an empty clip cache", group, videos)
    shard_table = Path(out_table).with_name(f".{Path(out_table).stem}.shard-table.parquet")
    try:
        chunk_shard(videos=plan, group=group, clip=clip, cache=cache, out_table=shard_table, out_cache=out_cache)
        return gather_clip_index(shard_tables=[shard_table], shard_caches=[out_cache], group=group, out_index=out_table)
    finally:
        shard_table.unlink(missing_ok=True)

