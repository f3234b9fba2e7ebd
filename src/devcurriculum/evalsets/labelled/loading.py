"""Decode a labelled manifest into clips: one uint8 ``(frames, size, size, 3)`` clip per usable item.

Videos go through the clip cache's own decoder and resize (``datasets.decode``): each file is probed
once (``probe_video`` decodes it in full, which gives the true frame count and catches truncated
files exactly as ``index_videos`` does), then only the clip's frames are read and resized with
``resize_short_side_and_center_crop``. So a benchmark clip and a training clip of the same footage
have identical pixels. Still images are read with Pillow (pixels as stored, no EXIF rotation),
converted to RGB, resized the same way and repeated over the clip's frames, as the seed study does
for CIFAR-10.

With a seed sampling policy (``sampling``: ``sampling.seed_clip_plans``) the policy places each clip's
frames instead of ``frame_step`` / ``target_fps`` / the starts; ``ucf101_2023`` gives one item per clip
of a video, ``<item_id>#clip=<c>`` (c = 0, 1, ...), and a video too short for a clip is an item error
(``no_clip``), as the reference skips it. Every status row records the source frames its clip took
(``frame_indices``; still images: frame 0 repeated).

An item that cannot be used (missing file, unreadable or truncated video, undecodable image, a start
past the end) is recorded in the status table with ``status = error`` and a reason, logged, and
skipped; the rest is processed. Whether the survivors still make a usable benchmark is decided by
``splits.check_usable``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import numpy as np
import pandas as pd

from devcurriculum.config import BenchmarkSamplingConfig, LabelledSource
from devcurriculum.datasets.decode import (
    VideoDecodeError,
    VideoInfo,
    probe_video,
    read_frames,
    resize_short_side_and_center_crop,
)
from devcurriculum.evalsets.labelled.manifest import MANIFEST_COLUMNS, LabelledDataError
from devcurriculum.evalsets.labelled.sampling import (
    MULTI_CLIP_POLICIES,
    ClipPlan,
    frame_offsets,
    plan_clip,
    seed_clip_plans,
)
from devcurriculum.utils.manifest_files import describe_rows
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import progress_bar

Media = Literal["video", "image"]

log = logging.getLogger("devcurriculum.evalsets.labelled.loading")


class ClipLoading(TypedDict):
    """How :func:`load_clips` turns a manifest's items into clips; ``build_benchmark`` passes it through."""

    media: Media
    frames: int
    size: int
    frame_step: NotRequired[int | None]
    target_fps: NotRequired[float | None]
    start_fraction: NotRequired[float]
    sampling: NotRequired[BenchmarkSamplingConfig | None]
    cache_path: NotRequired[PathLike | None]
    progress: NotRequired[bool]


STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_COLUMNS = (
    "item_id", "path", "label", "status", "reason", "width", "height", "n_frames", "fps", "start_frame", "n_padded",
    "frame_indices",
)
ITEM_COLUMNS = ("item_id", "label", "split", "group", "cache_row", "source_item")
#: the item id suffix of clip ``c`` of a video that gives several (``ucf101_2023``)
CLIP_SUFFIX = "#clip={}"
MEDIA = ("video", "image")


class ItemError(Exception):
    """One item cannot be used; ``str(err)`` is the reason recorded in the status table."""


@dataclass(frozen=True)
class LoadedItem:
    """One decoded clip and the facts the status table records about it."""

    clip: np.ndarray  # uint8 (frames, size, size, 3)
    width: int
    height: int
    n_frames: int | None = None  # decoded frames of a video; None for a still image
    fps: float | None = None
    start_frame: int | None = None
    n_padded: int = 0
    frame_indices: tuple[int, ...] = ()  # the source frame of each clip frame (an image: frame 0, repeated)


def read_image_rgb(path: PathLike) -> np.ndarray:
    """A still image as uint8 ``(H, W, 3)`` RGB; grey, palette and alpha images are converted.

    Raises :class:`ItemError` with the reason when the file is missing or cannot be decoded.
    """
    from PIL import Image

    file = Path(path)
    if not file.is_file():
        raise ItemError("missing: file not found" if not file.exists() else "missing: path is not a file")
    try:
        with Image.open(file) as image:
            rgb = image.convert("RGB")  # forces the full decode, so truncated files fail here
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ItemError(f"unreadable image: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return np.array(rgb, dtype=np.uint8)  # a writable copy (torch warns on read-only arrays)


def still_image_clip(image: np.ndarray, *, frames: int, size: int) -> np.ndarray:
    """One image resized like the clip cache and repeated over ``frames`` frames: ``(frames, size, size, 3)``."""
    resized = resize_short_side_and_center_crop(np.asarray(image, dtype=np.uint8)[None], size)[0]
    return np.ascontiguousarray(np.broadcast_to(resized, (frames, size, size, 3)))


def load_image_item(path: PathLike, *, frames: int, size: int) -> LoadedItem:
    image = read_image_rgb(path)
    height, width = image.shape[:2]
    return LoadedItem(clip=still_image_clip(image, frames=frames, size=size), width=width, height=height,
                      frame_indices=(0,) * frames)


def load_video_item(
    path: PathLike,
    *,
    frames: int,
    size: int,
    frame_step: int | None,
    target_fps: float | None,
    start_frame: int | None,
    start_fraction: float | None,
) -> LoadedItem:
    """The clip of one video (``sampling`` rules); raises :class:`ItemError` with the reason."""
    try:
        info = probe_video(path)
        offsets = frame_offsets(frames, frame_step=frame_step, fps=info.fps, target_fps=target_fps)
        plan = plan_clip(info.n_frames, offsets, start_frame=start_frame, start_fraction=start_fraction)
    except VideoDecodeError as exc:
        raise ItemError(f"{exc.kind}: {exc}") from exc
    except ValueError as exc:  # plan_clip: a start past the end of this video
        raise ItemError(f"bad_start: {exc}") from exc
    return _read_clips(path, info, [plan], size)[0]


def load_seed_video_items(
    path: PathLike, *, frames: int, size: int, sampling: BenchmarkSamplingConfig
) -> list[LoadedItem]:
    """Every clip a seed policy takes from one video (``sampling.seed_clip_plans``), in clip order.

    Raises :class:`ItemError`: ``no_clip`` for a video too short for any clip (the reference skips
    it), ``bad_sampling`` when the policy cannot sample this video (e.g. no frame rate).
    """
    try:
        info = probe_video(path)
    except VideoDecodeError as exc:
        raise ItemError(f"{exc.kind}: {exc}") from exc
    try:
        plans = seed_clip_plans(sampling.policy, n_frames=info.n_frames, fps=info.fps, frames=frames,
                                frame_rate=sampling.frame_rate)
    except ValueError as exc:
        raise ItemError(f"bad_sampling: {exc}") from exc
    if not plans:
        raise ItemError(
            f"no_clip: {info.n_frames} frames at {info.fps:g} fps are too few for one {frames}-frame clip at "
            f"{sampling.frame_rate:g} fps ({sampling.policy}; the reference skips such a video)"
        )
    return _read_clips(path, info, plans, size)


def _read_clips(path: PathLike, info: VideoInfo, plans: list[ClipPlan], size: int) -> list[LoadedItem]:
    """Decode and resize every frame the plans use, once, and cut each plan's clip from them."""
    unique = np.unique(np.concatenate([plan.indices for plan in plans]))
    try:
        resized = resize_short_side_and_center_crop(read_frames(path, unique, backend=info.backend), size)
    except VideoDecodeError as exc:
        raise ItemError(f"{exc.kind}: {exc}") from exc
    return [
        LoadedItem(
            clip=resized[np.searchsorted(unique, plan.indices)],
            width=info.width,
            height=info.height,
            n_frames=info.n_frames,
            fps=info.fps,
            start_frame=plan.start,
            n_padded=plan.n_padded,
            frame_indices=tuple(int(i) for i in plan.indices),
        )
        for plan in plans
    ]


def _check_arguments(
    *, media: str, frames: int, size: int, frame_step: int | None, target_fps: float | None, start_fraction: float,
    sampling: BenchmarkSamplingConfig | None,
) -> None:
    """Configuration errors, raised before any file is decoded."""
    if media not in MEDIA:
        raise ValueError(f"media must be one of {list(MEDIA)}, got {media!r}")
    if frames < 1 or size < 1:
        raise ValueError(f"frames and size must be >= 1, got frames={frames}, size={size}")
    frame_offsets(frames, frame_step=frame_step, fps=30.0, target_fps=target_fps)  # validates step / rate
    if not 0.0 <= start_fraction <= 1.0:
        raise ValueError(f"start_fraction must be in [0, 1], got {start_fraction}")
    if sampling is not None and media == "image":
        raise ValueError(f"the sampling policy {sampling.policy} applies to videos, not still images")


def _check_manifest(manifest: pd.DataFrame, media: str, sampling: BenchmarkSamplingConfig | None) -> None:
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise LabelledDataError(
            f"load_clips needs a labelled manifest (see manifest.validate_manifest); missing column(s) {missing}"
        )
    if media == "image":
        placed_by = "still images"
    elif sampling is not None:
        placed_by = f"clips placed by the sampling policy {sampling.policy}"
    else:
        return
    starts = (manifest["start_frame"].notna() | manifest["start_fraction"].notna()).to_numpy()
    if starts.any():
        raise LabelledDataError(f"start_frame/start_fraction do not apply to {placed_by}; given in {describe_rows(starts)}")


def _allocate(n: int, frames: int, size: int, cache_path: PathLike | None) -> np.ndarray:
    shape = (n, frames, size, size, 3)
    if cache_path is None:
        return np.empty(shape, dtype=np.uint8)
    Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(cache_path, mode="w+", dtype=np.uint8, shape=shape)


def _grow(clips: np.ndarray, needed: int, cache_path: PathLike | None) -> np.ndarray:
    """``clips`` with room for at least ``needed`` clips (videos with several clips outgrow one row each)."""
    if needed <= len(clips):
        return clips
    n, *rest = clips.shape
    bigger = max(needed, 2 * n)
    if cache_path is None:
        grown = np.empty((bigger, *rest), dtype=np.uint8)
        grown[:n] = clips
        return grown
    staging = Path(f"{cache_path}.grow")
    grown = np.lib.format.open_memmap(staging, mode="w+", dtype=np.uint8, shape=(bigger, *rest))
    grown[:n] = clips
    grown.flush()
    del grown, clips
    staging.replace(cache_path)
    return np.lib.format.open_memmap(cache_path, mode="r+")


def load_clips(
    manifest: pd.DataFrame,
    *,
    media: Media,
    frames: int,
    size: int,
    frame_step: int | None = None,
    target_fps: float | None = None,
    start_fraction: float = LabelledSource.start_fraction,
    sampling: BenchmarkSamplingConfig | None = None,
    cache_path: PathLike | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Decode every item of a labelled manifest; returns ``(items, clips, status)``.

    - ``items``: the usable items in manifest order, columns ``item_id, label, split, group,
      cache_row, source_item`` (``cache_row`` = row of ``clips``, 0..n-1; ``source_item`` = the
      manifest row's item id, which differs from ``item_id`` for the clips of a multi-clip policy);
    - ``clips``: uint8 ``(n, frames, size, size, 3)``;
    - ``status``: one row per item and per manifest row that gave none, :data:`STATUS_COLUMNS`
      (``status`` ok/error, ``reason``, ``frame_indices``).

    ``frame_step`` / ``target_fps`` / ``start_fraction`` (the default start for rows without their
    own) follow ``sampling``; they do not apply to still images, nor with a seed ``sampling`` policy,
    which places the clips itself (rows with their own start are then an error). ``cache_path``: a
    scratch ``.npy`` file to fill instead of memory, for benchmarks larger than RAM (the caller owns
    and deletes it; ``write_benchmark`` copies the rows in use to the final cache atomically).
    """
    _check_arguments(
        media=media, frames=frames, size=size, frame_step=frame_step, target_fps=target_fps,
        start_fraction=start_fraction, sampling=sampling,
    )
    _check_manifest(manifest, media, sampling)
    rows = manifest.reset_index(drop=True)
    clips = _allocate(len(rows), frames, size, cache_path)
    status: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    records = rows.to_dict("records")
    for row in progress_bar(records, desc=f"decode {media}s", unit=media, enabled=progress):
        try:
            loaded = _load_row(
                row, media=media, frames=frames, size=size, frame_step=frame_step, target_fps=target_fps,
                start_fraction=start_fraction, sampling=sampling,
            )
        except ItemError as exc:
            log.warning("item %r (%s): %s (recorded as error, skipped)", row["item_id"], row["path"], exc)
            status.append(_status_row(row, STATUS_ERROR, str(exc), None))
            continue
        clips = _grow(clips, len(kept) + len(loaded), cache_path)
        for suffix, item in loaded:
            clips[len(kept)] = item.clip
            clip_row = {**row, "item_id": f"{row['item_id']}{suffix}", "source_item": row["item_id"]}
            kept.append(clip_row)
            status.append(_status_row(clip_row, STATUS_OK, None, item))
    items = pd.DataFrame(kept, columns=[*rows.columns, "source_item"])[["item_id", "label", "split", "group", "source_item"]]
    items = items.astype(rows.dtypes[["item_id", "label", "split", "group"]].to_dict() | {"source_item": rows["item_id"].dtype})
    items.insert(4, "cache_row", np.arange(len(kept), dtype=np.int64))
    n_errors = sum(1 for s in status if s["status"] == STATUS_ERROR)
    if n_errors:
        log.warning("%d of %d items could not be used and were skipped (see the status table)", n_errors, len(rows))
    return items, clips[: len(kept)], status_frame(status)


def _load_row(
    row: Mapping[str, Any],
    *,
    media: str,
    frames: int,
    size: int,
    frame_step: int | None,
    target_fps: float | None,
    start_fraction: float,
    sampling: BenchmarkSamplingConfig | None,
) -> list[tuple[str, LoadedItem]]:
    """The clips of one manifest row with their item id suffixes (``""`` for the row's one clip).

    The row's own start wins over the default ``start_fraction``; a seed ``sampling`` policy places
    the clips itself.
    """
    if media == "image":
        return [("", load_image_item(row["path"], frames=frames, size=size))]
    if sampling is not None:
        items = load_seed_video_items(row["path"], frames=frames, size=size, sampling=sampling)
        if sampling.policy not in MULTI_CLIP_POLICIES:
            return [("", item) for item in items]
        return [(CLIP_SUFFIX.format(c), item) for c, item in enumerate(items)]
    own_frame = None if pd.isna(row["start_frame"]) else int(row["start_frame"])
    own_fraction = None if pd.isna(row["start_fraction"]) else float(row["start_fraction"])
    if own_frame is None and own_fraction is None:
        own_fraction = start_fraction
    return [("", load_video_item(
        row["path"],
        frames=frames,
        size=size,
        frame_step=frame_step,
        target_fps=target_fps,
        start_frame=own_frame,
        start_fraction=own_fraction,
    ))]


def _status_row(row: Mapping[str, Any], status: str, reason: str | None, loaded: LoadedItem | None) -> dict[str, Any]:
    return {
        "item_id": row["item_id"],
        "path": row["path"],
        "label": row["label"],
        "status": status,
        "reason": reason,
        "width": None if loaded is None else loaded.width,
        "height": None if loaded is None else loaded.height,
        "n_frames": None if loaded is None else loaded.n_frames,
        "fps": None if loaded is None else loaded.fps,
        "start_frame": None if loaded is None else loaded.start_frame,
        "n_padded": None if loaded is None else loaded.n_padded,
        "frame_indices": None if loaded is None else list(loaded.frame_indices),
    }


def status_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The status table with fixed nullable dtypes (also when every row failed or there are none)."""
    frame = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    dtypes = {
        "item_id": "string", "path": "string", "label": "string", "status": "string", "reason": "string",
        "width": "Int64", "height": "Int64", "n_frames": "Int64", "fps": "Float64", "start_frame": "Int64",
        "n_padded": "Int64",
    }  # frame_indices stays a column of lists (None for an item that gave no clip)
    return frame.astype(dtypes)
