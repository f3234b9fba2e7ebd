"""Which source frames make a benchmark clip: start position, frame step or target rate, padding.

One clip per item. Its frames are ``start + offset_i`` for ``i = 0 .. frames-1`` where

- ``offset_i = i * frame_step`` (default ``frame_step = 1``: consecutive frames, as the seed study), or
- ``offset_i = round(i * fps / target_fps)`` when a ``target_fps`` is given: the clip is resampled by
  time (nearest source frame, halves rounded up), so a 60 fps and a 25 fps video both give clips
  spanning ``frames / target_fps`` seconds. A target above the source rate repeats frames.

The start is, per item, the first that applies of:

1. ``start_frame``: that decoded frame (0-based). A start past the last frame is an item error.
2. ``start_fraction`` ``f`` in [0, 1]: ``round(f * max(0, n_frames - 1 - span))`` with
   ``span = offset_{frames-1}``, i.e. the clip is placed within the room the video leaves for it:
   ``0`` is the first clip, ``0.5`` the centred clip, ``1`` the last clip that still fits. (A plain
   ``f * n_frames`` would make most values near 1 run off the end and be padded.)
3. frame 0 (the default; ``load_clips(start_fraction=...)`` can change the default for all items).

Padding (the seed study's rule for clips longer than the video): a frame index past the last decoded
frame is replaced by the last decoded frame, so a clip is always ``frames`` long. How many frames
were padded is recorded per item in the status table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipPlan:
    """The source frames of one clip."""

    indices: np.ndarray  # int64 (frames,), non-decreasing, each in [0, n_frames - 1]
    start: int
    n_padded: int  # trailing frames that repeat the video's last frame


def frame_offsets(
    frames: int, *, frame_step: int | None = None, fps: float | None = None, target_fps: float | None = None
) -> np.ndarray:
    """Offsets of a clip's frames from its first frame (int64, starts at 0, non-decreasing).

    Exactly one of ``frame_step`` / ``target_fps`` applies; neither means ``frame_step = 1``.
    ``target_fps`` needs the video's ``fps``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if frame_step is not None and target_fps is not None:
        raise ValueError(f"give frame_step or target_fps, not both (got {frame_step} and {target_fps})")
    if target_fps is None:
        step = 1 if frame_step is None else int(frame_step)
        if step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        return np.arange(frames, dtype=np.int64) * step
    if not target_fps > 0:
        raise ValueError(f"target_fps must be > 0, got {target_fps}")
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"resampling to target_fps={target_fps} needs the video's frame rate, got {fps}")
    return np.floor(np.arange(frames, dtype=np.float64) * (fps / target_fps) + 0.5).astype(np.int64)


def plan_clip(
    n_frames: int,
    offsets: np.ndarray,
    *,
    start_frame: int | None = None,
    start_fraction: float | None = None,
) -> ClipPlan:
    """Place a clip with ``offsets`` in a video of ``n_frames`` decoded frames (module docstring rules).

    Raises ``ValueError`` (an item error, not a config error) when the video has no frames or
    ``start_frame`` lies past its end.
    """
    if n_frames < 1:
        raise ValueError("the video has no decoded frames")
    span = int(offsets[-1])
    if start_frame is not None:
        start = int(start_frame)
        if start < 0:
            raise ValueError(f"start_frame must be >= 0, got {start}")
        if start > n_frames - 1:
            raise ValueError(f"start_frame {start} is past the last frame ({n_frames} frames decode)")
    elif start_fraction is not None:
        if not 0.0 <= start_fraction <= 1.0:
            raise ValueError(f"start_fraction must be in [0, 1], got {start_fraction}")
        room = max(0, n_frames - 1 - span)
        start = int(np.floor(start_fraction * room + 0.5))
    else:
        start = 0
    wanted = start + offsets.astype(np.int64)
    last = n_frames - 1
    n_padded = int(np.count_nonzero(wanted > last))
    return ClipPlan(indices=np.minimum(wanted, last), start=start, n_padded=n_padded)
