"""The simulated children of the demo: names, age groups and ages in days."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from devcurriculum.demo.world import STREAM_AGES, stream_rng


@dataclass(frozen=True)
class Subject:
    """A simulated child: a unique name, its age group, its age in days and its index (its random streams)."""

    name: str
    group: str
    age_days: float
    index: int


def plan_subjects(age_groups: Mapping[str, tuple[float, float]], subjects_per_group: int, seed: int) -> list[Subject]:
    """Subjects spread over each group's range, groups in config order.

    Subject j of n gets an age drawn uniformly in the j-th of n equal slices of [min_days, max_days)
    (stratified, so a group's range is covered evenly). Ages are floored to 0.01 day and always stay
    inside [min_days, max_days).
    """
    rng = stream_rng(seed, STREAM_AGES)
    subjects: list[Subject] = []
    for name, bounds in age_groups.items():
        lo, hi = float(bounds[0]), float(bounds[1])
        u = rng.random(subjects_per_group)
        for j in range(subjects_per_group):
            age = math.floor((lo + (j + u[j]) / subjects_per_group * (hi - lo)) * 100) / 100
            age = min(max(age, lo), math.nextafter(hi, lo))
            subjects.append(Subject(name=f"{name}_s{j:02d}", group=str(name), age_days=age, index=len(subjects)))
    return subjects
