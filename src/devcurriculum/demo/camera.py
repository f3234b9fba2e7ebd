"""The head camera's path over the room.

An Ornstein-Uhlenbeck velocity (smooth pans with a 1 s correlation time) whose RMS speed is
``camera_speed``, reflected at the room's edges, plus white per-frame jitter (head bobbing). Young
infants' heads move slowly and little; older infants move fast and jerkily.
"""

from __future__ import annotations

import math

import numpy as np

from devcurriculum.demo.room import CANVAS_SCALE
from devcurriculum.demo.world import SceneStats

CAMERA_TAU_S = 1.0  # correlation time of the head's velocity, seconds


def camera_path(
    stats: SceneStats, n_frames: int, size: int, fps: float, rng: np.random.Generator, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left crop corners (T, 2) int (x, y) in the room, and the jitter part of them (T, 2) float.

    The smooth part is an OU velocity with RMS ``camera_speed`` frame widths per second; the jitter is
    white noise of std ``camera_jitter`` frame widths per frame. ``scale`` shrinks both (benchmark).
    """
    limit = float(CANVAS_SCALE * size - size)
    a = math.exp(-1.0 / (CAMERA_TAU_S * fps))
    sigma_v = stats.camera_speed * size / fps * scale
    noise = rng.standard_normal((n_frames, 2))
    pos = limit / 2 + rng.uniform(-0.25, 0.25, size=2) * limit
    vel = rng.standard_normal(2) * sigma_v
    smooth = np.empty((n_frames, 2))
    for t in range(n_frames):
        smooth[t] = pos
        vel = a * vel + math.sqrt(1 - a * a) * sigma_v * noise[t]
        pos = pos + vel
        for axis in range(2):  # the head turns back at the room's edges
            if pos[axis] < 0:
                pos[axis], vel[axis] = -pos[axis], -vel[axis]
            elif pos[axis] > limit:
                pos[axis], vel[axis] = 2 * limit - pos[axis], -vel[axis]
    jitter = rng.standard_normal((n_frames, 2)) * stats.camera_jitter * size * scale
    corners = np.clip(np.rint(smooth + jitter), 0, limit).astype(np.int64)
    return corners, corners - smooth
