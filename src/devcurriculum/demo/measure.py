"""Pixel measures of a rendered video: how much it moves and how cluttered it is.

The same definitions the complexity controls match age groups on (:mod:`devcurriculum.curriculum.complexity`,
where they live), so the demo's recorded trends and the controls' measures agree.
"""

from __future__ import annotations

from devcurriculum.curriculum.complexity import EDGE_THRESHOLD, edge_density, motion_energy

__all__ = ["EDGE_THRESHOLD", "edge_density", "motion_energy"]
