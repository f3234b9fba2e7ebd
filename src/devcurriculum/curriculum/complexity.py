"""Pixel complexity of clips: how cluttered (spatial) and how much they move (temporal).

The complexity controls (:mod:`devcurriculum.curriculum.controls`) match age groups on these. The seed
study matched its groups on a spatial measure computed offline (its pickles are not public, the measure
is not in its code); ours, computed from the decoded clip cache (uint8, ``data.clip.size`` pixels), on
grey levels ``g = mean(R, G, B)`` in 0..255:

- **spatial complexity = edge density**: the fraction of pixels whose horizontal or vertical grey step
  to the next pixel exceeds ``EDGE_THRESHOLD`` (20 grey levels), over every frame of the clip. Flat
  views (a ceiling, a close face) score low, cluttered rooms and textured toys high. It depends on the
  frame size (a finer grid sees more, smaller steps), so tables at different ``data.clip.size`` are
  not comparable.
- **temporal complexity = motion energy**: the mean absolute grey difference between consecutive frames
  of the clip (0 for a still clip or a single frame). It grows with head motion and moving things.

These are the definitions :mod:`devcurriculum.demo.measure` records per demo video (the demo world's
age trends are built on them). Rule ``measure_complexity`` writes them per clip
(:func:`devcurriculum.curriculum.controls.measure_complexity`). NumPy only: the demo imports it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGE_THRESHOLD", "clip_complexity", "edge_density", "motion_energy"]

EDGE_THRESHOLD = 20.0  # grey-level step (0-255) counted as an edge by edge_density


def motion_energy(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames (grey levels 0-255): temporal complexity."""
    if len(frames) < 2:
        return 0.0
    grey = frames.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean())


def edge_density(frames: np.ndarray, threshold: float = EDGE_THRESHOLD) -> float:
    """Fraction of pixels whose horizontal or vertical grey step exceeds ``threshold``: clutter."""
    grey = frames.astype(np.float32).mean(axis=-1)
    gx = np.abs(np.diff(grey, axis=2))[:, :-1, :]
    gy = np.abs(np.diff(grey, axis=1))[:, :, :-1]
    return float(((gx > threshold) | (gy > threshold)).mean())


def clip_complexity(clips: np.ndarray, threshold: float = EDGE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """``(spatial, temporal)`` float64 ``(B,)`` of uint8 clips ``(B, T, H, W, 3)``: :func:`edge_density` and
    :func:`motion_energy` of every clip, vectorised."""
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be (B, T, H, W, 3), got shape {clips.shape}")
    grey = clips.astype(np.float32).mean(axis=-1)
    gx = np.abs(np.diff(grey, axis=3))[:, :, :-1, :]
    gy = np.abs(np.diff(grey, axis=2))[:, :, :, :-1]
    spatial = ((gx > threshold) | (gy > threshold)).mean(axis=(1, 2, 3))
    if clips.shape[1] < 2:
        return spatial.astype(np.float64), np.zeros(len(clips))
    temporal = np.abs(np.diff(grey, axis=1)).mean(axis=(1, 2, 3))
    return spatial.astype(np.float64), temporal.astype(np.float64)
