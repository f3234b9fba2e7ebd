"""Pixel measures of a rendered video: how much it moves and how cluttered it is."""

from __future__ import annotations

import numpy as np

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
