"""Stage ``chunk_clips``: cut one age group's videos into clips and write the decoded clip cache.

Each video is decoded once, sequentially; only frames some clip uses are converted to RGB and
resized (in batches), and each clip is written to the memory-mapped cache as soon as its last
frame is ready, so memory stays bounded by one clip span however long the video is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from devcurriculum.config import ClipConfig
from devcurriculum.datasets.decode import (
    VideoDecodeError,
    iter_frame_batches,
    resize_short_side_and_center_crop,
)
from devcurriculum.utils.io import atomic_path, provenance, table_from_columns, write_table
from devcurriculum.utils.progress import progress_bar

__all__ = ["CLIP_SCHEMA", "chunk_group", "clip_starts", "resize_short_side_and_center_crop"]

PathLike = str | os.PathLike[str]

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
VIDEO_COLUMNS = ("video_id", "path", "subject", "age_days", "age_group", "n_frames", "status")
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


def _group_videos(videos_parquet: PathLike, group: str) -> list[dict[str, Any]]:
    table = pq.read_table(videos_parquet)
    missing = [c for c in VIDEO_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{videos_parquet}: missing column(s) {missing} (is it the output of index_videos?)")
    rows = table.select(list(VIDEO_COLUMNS)).to_pylist()
    return [r for r in rows if r["status"] == "ok" and r["age_group"] == group]


class _CacheWriter:
    """Fills a preallocated ``.npy`` memmap row by row; can roll back a failed video's rows."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path = path
        self.array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        self.rows = 0

    def finish(self) -> None:
        """Flush, and shrink the file when videos failed and their planned rows stay unused."""
        planned = self.array.shape[0]
        self.array.flush()
        if self.rows == planned:
            del self.array
            return
        shrunk_path = self.path.with_name(self.path.name + ".shrink.npy")
        try:
            shrunk = np.lib.format.open_memmap(
                shrunk_path, mode="w+", dtype=np.uint8, shape=(self.rows, *self.array.shape[1:])
            )
            step = 256
            for lo in range(0, self.rows, step):
                shrunk[lo : lo + step] = self.array[lo : min(lo + step, self.rows)]
            shrunk.flush()
            del shrunk
            del self.array
            os.replace(shrunk_path, self.path)
        finally:
            if shrunk_path.exists():
                shrunk_path.unlink()


def _chunk_video(video: Mapping[str, Any], starts: np.ndarray, clip: ClipConfig, writer: _CacheWriter) -> list[int]:
    """Decode one video and write its clips at ``writer.rows`` onwards; returns the start of each clip written.

    Raises VideoDecodeError when decoding fails or ends early; the caller rolls back the rows.
    """
    offsets = np.arange(clip.frames, dtype=np.int64) * clip.frame_step
    needed = np.unique((starts[:, None] + offsets[None, :]).ravel())
    ready: dict[int, np.ndarray] = {}  # resized frames still needed by a pending clip
    next_clip = 0
    written: list[int] = []
    # No backend given: iter_frame_batches chooses it (choose_backend's rule) and reuses the
    # decord reader it checked, instead of indexing the file twice.
    for idx, frames in iter_frame_batches(video["path"], needed, batch_size=RESIZE_BATCH, reuse_buffer=True):
        resized = resize_short_side_and_center_crop(frames, clip.size)
        ready.update(zip(idx.tolist(), resized, strict=True))
        newest = int(idx[-1])
        while next_clip < len(starts) and starts[next_clip] + clip.span <= newest:
            s = int(starts[next_clip])
            for j, o in enumerate(offsets.tolist()):
                writer.array[writer.rows, j] = ready[s + o]
            writer.rows += 1
            written.append(s)
            next_clip += 1
        keep_from = int(starts[next_clip]) if next_clip < len(starts) else newest + 1
        for key in [k for k in ready if k < keep_from]:
            del ready[key]
    if next_clip < len(starts):
        raise VideoDecodeError(
            f"decoding stopped before clip start {int(starts[next_clip])} (index says {video['n_frames']} frames)",
            "truncated",
        )
    return written


def _log_plan(group: str, videos: PathLike, plans: list[tuple[dict[str, Any], np.ndarray]], clip: ClipConfig) -> None:
    too_short = sum(1 for _, s in plans if len(s) == 0)
    if not plans:
        log.warning("age group %r has no usable (status ok) videos in %s: writing an empty clip cache", group, videos)
    elif too_short:
        log.info(
            "%d of %d videos in group %r are shorter than one clip (%d source frames)",
            too_short,
            len(plans),
            group,
            clip.span + 1,
        )
    log.info("group %r: %d videos, %d clips planned", group, len(plans), sum(len(s) for _, s in plans))


def _fill_cache(
    plans: list[tuple[dict[str, Any], np.ndarray]], group: str, clip: ClipConfig, writer: _CacheWriter
) -> tuple[dict[str, list[Any]], list[tuple[str, str]]]:
    """Chunk every planned video into ``writer``; returns the clip table's columns and the failed videos."""
    records: dict[str, list[Any]] = {name: [] for name in CLIP_SCHEMA.names}
    failed: list[tuple[str, str]] = []
    for video, starts in progress_bar(plans, desc=f"chunk {group}", unit="video"):
        if len(starts) == 0:
            continue
        first_row = writer.rows
        try:
            written = _chunk_video(video, starts, clip, writer)
        except VideoDecodeError as exc:
            writer.rows = first_row  # drop this video's partial clips; the next video overwrites them
            failed.append((video["path"], str(exc)))
            log.error("skipping video %s (%s) in group %r: %s", video["video_id"], video["path"], group, exc)
            continue
        for k, start in enumerate(written):
            records["clip_id"].append(f"{video['video_id']}:{start}")
            records["video_id"].append(video["video_id"])
            records["subject"].append(video["subject"])
            records["age_days"].append(video["age_days"])
            records["age_group"].append(group)
            records["start_frame"].append(start)
            records["frame_step"].append(clip.frame_step)
            records["n_frames"].append(clip.frames)
            records["cache_row"].append(first_row + k)
    return records, failed


def chunk_group(*, videos: PathLike, group: str, clip: ClipConfig, out_table: PathLike, out_cache: PathLike) -> int:
    """Write the clip cache ``out_cache`` (uint8 (N, T, size, size, 3)) and its index ``out_table``.

    Uses the ``ok`` videos of ``group`` in the video table ``videos`` (``videos.parquet``), in its
    order; clip ids are ``f"{video_id}:{start_frame}"`` (unique across groups because video ids are).
    A video that fails to decode here is logged and skipped, the others are kept. Returns the number
    of clips written.
    """
    plans = [
        (v, clip_starts(int(v["n_frames"]), clip.frames, clip.frame_step, clip.stride))
        for v in _group_videos(videos, group)
    ]
    _log_plan(group, videos, plans, clip)
    shape = (sum(len(s) for _, s in plans), clip.frames, clip.size, clip.size, 3)
    with atomic_path(out_cache) as tmp_cache:
        writer = _CacheWriter(tmp_cache, shape)
        records, failed = _fill_cache(plans, group, clip, writer)
        writer.finish()
    n_clips = len(records["clip_id"])
    meta = provenance(
        "chunk_clips",
        {"clip": clip.shaping()},
        group=group,
        videos=str(videos),
        failed_videos=[{"path": p, "error": e} for p, e in failed],
    )
    write_table(table_from_columns(records, CLIP_SCHEMA), out_table, metadata=meta)
    if failed:
        log.warning("group %r: %d video(s) failed while decoding and were skipped", group, len(failed))
    log.info("group %r: wrote %d clips of %s to %s", group, n_clips, shape[1:], out_cache)
    return n_clips
