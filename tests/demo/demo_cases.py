"""Shared inputs of the demo tests: the age groups, a tiny demo config and a decoder."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from devcurriculum.config import DemoConfig

GROUPS = {"g0": (0.0, 120.0), "g1": (120.0, 240.0), "g2": (240.0, 400.0)}

TINY_DEMO = DemoConfig.from_mapping(
    {
        "seed": 3,
        "subjects_per_group": 2,
        "videos_per_subject": 1,
        "seconds": 1,
        "fps": 8,
        "size": 32,
        "benchmark": {"clips_per_class": 2, "frames": 6},
    }
)


def decode(path: Path) -> np.ndarray:
    """All frames of a video as uint8 (T, H, W, 3), decoded with PyAV."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
