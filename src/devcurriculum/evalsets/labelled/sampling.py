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

**Seed policies** (``benchmarks.<name>.sampling``, ``models.<name>.benchmark_sampling``): the clip
sampling of the NeurIPS 2023 study's benchmark loaders, index for index, fallbacks included
(``docs/benchmarks.md`` "Seed sampling policies", ``docs/algorithms.md`` §A "Benchmark sampling").
With ``n`` decoded frames, ``T = frames`` and ``r = frame_rate``:

- ``ssv2_2023``: the source rate is taken to be 12 fps whatever the video says (the reference
  hard-codes it), ``ds = round(12 / r)`` (Python's round, halves to even). If ``n < T*ds``: frames
  ``min(i*ds, n-1)`` (padded with the last frame); else if ``n - n//4 < T*ds``: ``i*ds``; else
  ``n//4 + i*ds``.
- ``toybox_2023``: ``ds = round(fps / r)``. If ``n < T*ds``: the first ``min(n, T)`` *consecutive*
  frames, padded with the last (no down-sampling in this branch: the reference's quirk); else from
  ``start = int(n/5)``, moved back to ``n - T*ds`` when the clip would not fit: ``start + i*ds``.
- ``ucf101_2023``: torchvision's ``VideoClips`` with ``step_between_clips = 300``: if ``f/r`` is a
  whole number ``k``, the resampled video is frames ``0, k, 2k, ...`` (``ceil(n/k)`` of them), else
  frame ``floor(float32(j) * float32(f/r))`` for ``j < floor(n*r/f)``; clip ``c`` is resampled frames
  ``300c .. 300c + T-1``; a video with fewer than ``T`` resampled frames has **no clip** (the
  reference skips it silently; the loaders record it as an item error). :func:`seed_frame_indices`
  gives the first clip, :func:`seed_clip_indices` every clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

SeedPolicy = Literal["ssv2_2023", "toybox_2023", "ucf101_2023"]
SEED_POLICIES: tuple[str, ...] = get_args(SeedPolicy)
#: the SSv2 loader's source rate, hard-coded in the reference whatever the frames' real rate
SSV2_SOURCE_FPS = 12
#: UCF-101's ``step_between_clips`` in the reference, counted in resampled frames
UCF101_STEP_BETWEEN_CLIPS = 300
#: the policies that can take several clips from one video (each its own benchmark item)
MULTI_CLIP_POLICIES: tuple[str, ...] = ("ucf101_2023",)


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


# ---- the seed study's benchmark sampling (module docstring, "Seed policies") ----------------------


def _check_policy_arguments(policy: str, n_frames: int, frames: int, frame_rate: float) -> None:
    if policy not in SEED_POLICIES:
        raise ValueError(f"unknown sampling policy {policy!r}; known: {list(SEED_POLICIES)}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not frame_rate > 0:
        raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
    if n_frames < 1:
        raise ValueError("the video has no decoded frames")


def _down_sampling(policy: str, source_fps: float, frame_rate: float) -> int:
    """``round(source_fps / frame_rate)`` (Python's round); below 1 the reference divides by zero."""
    step = round(source_fps / frame_rate)
    if step < 1:
        raise ValueError(
            f"{policy}: frame_rate {frame_rate:g} above the source rate {source_fps:g} gives a step of "
            f"round({source_fps:g}/{frame_rate:g}) = {step} (the reference divides by zero)"
        )
    return step


def _source_fps(policy: str, fps: float | None) -> float:
    if fps is None or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"{policy} needs the video's frame rate, got {fps}")
    return float(fps)


def _ssv2_plan(n: int, frames: int, frame_rate: float) -> ClipPlan:
    ds = _down_sampling("ssv2_2023", SSV2_SOURCE_FPS, frame_rate)
    wanted = np.arange(frames, dtype=np.int64) * ds
    # start at n // 4 when the clip fits from there, else at frame 0 (padded if it does not fit even then)
    start = n // 4 if n - n // 4 >= frames * ds else 0
    wanted = start + wanted
    n_padded = int(np.count_nonzero(wanted > n - 1))
    return ClipPlan(indices=np.minimum(wanted, n - 1), start=start, n_padded=n_padded)


def _toybox_plan(n: int, fps: float | None, frames: int, frame_rate: float) -> ClipPlan:
    ds = _down_sampling("toybox_2023", _source_fps("toybox_2023", fps), frame_rate)
    scope = frames * ds
    if n < scope:  # the reference reads the first frames at the native rate
        decoded = min(n, frames)
        indices = np.minimum(np.arange(frames, dtype=np.int64), decoded - 1)
        return ClipPlan(indices=indices, start=0, n_padded=frames - decoded)
    start = int(n * 1 / 5)
    if n - start < scope:
        start = n - scope
    return ClipPlan(indices=start + np.arange(frames, dtype=np.int64) * ds, start=start, n_padded=0)


def ucf101_resampled_frames(n_frames: int, fps: float, frame_rate: float) -> np.ndarray:
    """The source frame of every resampled frame, as torchvision's ``VideoClips`` resamples a video.

    ``f/r`` a whole number ``k``: ``0, k, 2k, ...`` below ``n`` (``ceil(n/k)`` frames, not
    ``floor(n*r/f)``); otherwise ``floor(float32(j) * float32(f/r))`` for ``j < floor(n*r/f)``, in
    float32 as torch computes it (float64 differs, e.g. 25 -> 3 fps at j = 15: 124 vs 125).
    """
    step = fps / frame_rate
    if step.is_integer():
        return np.arange(0, n_frames, int(step), dtype=np.int64)
    m = math.floor(n_frames * frame_rate / fps)
    return np.floor(np.arange(m, dtype=np.float32) * np.float32(step)).astype(np.int64)


def _ucf101_plans(n: int, fps: float | None, frames: int, frame_rate: float) -> list[ClipPlan]:
    resampled = ucf101_resampled_frames(n, _source_fps("ucf101_2023", fps), frame_rate)
    n_clips = max(0, (len(resampled) - frames) // UCF101_STEP_BETWEEN_CLIPS + 1)
    plans = []
    for c in range(n_clips):
        indices = resampled[c * UCF101_STEP_BETWEEN_CLIPS : c * UCF101_STEP_BETWEEN_CLIPS + frames]
        plans.append(ClipPlan(indices=indices.copy(), start=int(indices[0]), n_padded=0))
    return plans


def seed_clip_plans(
    policy: str, *, n_frames: int, fps: float | None, frames: int, frame_rate: float
) -> list[ClipPlan]:
    """Every clip a seed policy takes from a video of ``n_frames`` decoded frames (empty: no clip).

    One clip for ``ssv2_2023`` and ``toybox_2023``; for ``ucf101_2023`` one per 300 resampled frames,
    none for a video too short for one. ``fps`` is the video's rate (unused by ``ssv2_2023``, which
    assumes 12). Raises ``ValueError`` for an unknown policy, a video without frames, a missing rate
    or a ``frame_rate`` that rounds the step to 0.
    """
    _check_policy_arguments(policy, n_frames, frames, frame_rate)
    if policy == "ssv2_2023":
        return [_ssv2_plan(n_frames, frames, frame_rate)]
    if policy == "toybox_2023":
        return [_toybox_plan(n_frames, fps, frames, frame_rate)]
    return _ucf101_plans(n_frames, fps, frames, frame_rate)


def seed_clip_indices(
    policy: str, *, n_frames: int, fps: float | None, frames: int, frame_rate: float
) -> list[list[int]]:
    """The source frames of every clip of a seed policy (:func:`seed_clip_plans`); ``[]``: no clip."""
    plans = seed_clip_plans(policy, n_frames=n_frames, fps=fps, frames=frames, frame_rate=frame_rate)
    return [plan.indices.tolist() for plan in plans]


def seed_frame_indices(policy: str, *, n_frames: int, fps: float | None, frames: int, frame_rate: float) -> list[int]:
    """The source frames of a video's (first) clip as the seed study sampled it; ``[]``: no clip.

    ``policy`` is ``ssv2_2023``, ``toybox_2023`` or ``ucf101_2023`` (module docstring); ``n_frames``
    the video's decoded frames, ``fps`` its rate, ``frames`` the clip length, ``frame_rate`` the
    policy's target rate. Only ``ucf101_2023`` can give no clip (a video too short for one).
    """
    clips = seed_clip_indices(policy, n_frames=n_frames, fps=fps, frames=frames, frame_rate=frame_rate)
    return clips[0] if clips else []


def seed_source_step(policy: str, *, n_frames: int, fps: float | None, frames: int, frame_rate: float) -> float:
    """Source frames per clip frame of a seed policy's clip (its clip rate is ``fps`` over this).

    ``ssv2_2023``: ``round(12 / r)``; ``toybox_2023``: ``round(fps / r)``, or 1 for a video shorter
    than the clip's scope (consecutive frames); ``ucf101_2023``: ``fps / r`` (the clip is at ``r``).
    """
    _check_policy_arguments(policy, n_frames, frames, frame_rate)
    if policy == "ssv2_2023":
        return float(_down_sampling(policy, SSV2_SOURCE_FPS, frame_rate))
    source = _source_fps(policy, fps)
    if policy == "toybox_2023":
        ds = _down_sampling(policy, source, frame_rate)
        return 1.0 if n_frames < frames * ds else float(ds)
    return source / frame_rate
