"""Which age groups are trained on at which step: a curriculum's stages (ALGORITHMS.md A, "Stages").

One continuous run; the sampler switches pools at stage boundaries. Order kinds:

- a list of groups: one stage per listed group, in that order;
- ``shuffled``: every group once, in an order drawn from the curriculum's seed;
- ``mixed``: ONE stage pooling every group, lasting len(groups) * steps_per_stage steps, so that
  every curriculum over all groups trains for the same number of steps.
"""

from __future__ import annotations

import bisect
import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("devcurriculum.curriculum.plan")

ORDER_KINDS = ("shuffled", "mixed")


@dataclass(frozen=True)
class Stage:
    """Stage ``index`` trains on ``groups`` for the steps [start, stop)."""

    index: int
    groups: tuple[str, ...]
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class CurriculumPlan:
    """The stages of one named curriculum plus its optional weighting / blur / LeRaC blocks."""

    name: str
    stages: tuple[Stage, ...]
    seed: int = 0
    weighting: Mapping[str, Any] | None = None
    blur: Mapping[str, Any] | None = None
    lerac: Mapping[str, Any] | None = None
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"curriculum {self.name!r} has no stages")
        expected = 0
        for i, stage in enumerate(self.stages):
            if stage.index != i or stage.start != expected or stage.stop <= stage.start or not stage.groups:
                raise ValueError(f"curriculum {self.name!r}: stage {i} is not contiguous and non-empty: {stage}")
            expected = stage.stop
        object.__setattr__(self, "_starts", tuple(s.start for s in self.stages))

    @classmethod
    def from_config(
        cls,
        name: str,
        cfg: Mapping[str, Any],
        groups: Sequence[str],
        steps_per_stage: int,
    ) -> CurriculumPlan:
        """Build the plan of ``curricula.<name>`` given the age-group names in config order."""
        groups = [str(g) for g in groups]
        if not groups:
            raise ValueError(f"curricula.{name}: no age groups are defined (data.age_groups is empty)")
        if len(set(groups)) != len(groups):
            raise ValueError(f"curricula.{name}: age groups are not unique: {groups}")
        if int(steps_per_stage) != steps_per_stage or steps_per_stage < 1:
            raise ValueError(f"pretrain.steps_per_stage must be a positive integer, got {steps_per_stage}")
        if "order" not in cfg:
            raise ValueError(f"curricula.{name}.order is missing")
        order = cfg["order"]
        seed = int(cfg.get("seed", 0))
        if isinstance(order, str):
            if order not in ORDER_KINDS:
                raise ValueError(
                    f"curricula.{name}.order must be a list of age groups or one of {list(ORDER_KINDS)}, got {order!r}"
                )
            if order == "mixed":
                stage_groups: list[tuple[str, ...]] = [tuple(groups)]
                lengths = [len(groups) * steps_per_stage]
            else:
                permutation = np.random.default_rng(seed).permutation(len(groups))
                stage_groups = [(groups[i],) for i in permutation]
                lengths = [steps_per_stage] * len(groups)
                log.info("curricula.%s: shuffled order (seed %d): %s", name, seed, [g[0] for g in stage_groups])
        elif isinstance(order, Sequence) and len(order) > 0:
            unknown = [g for g in order if str(g) not in groups]
            if unknown:
                raise ValueError(f"curricula.{name}.order names unknown age group(s) {unknown}; known: {groups}")
            stage_groups = [(str(g),) for g in order]
            lengths = [steps_per_stage] * len(order)
        else:
            raise ValueError(f"curricula.{name}.order must be a non-empty list or {list(ORDER_KINDS)}, got {order!r}")

        stages = []
        start = 0
        for i, (members, length) in enumerate(zip(stage_groups, lengths, strict=True)):
            stages.append(Stage(index=i, groups=members, start=start, stop=start + length))
            start += length

        def block(key: str) -> Mapping[str, Any] | None:
            value = cfg.get(key)
            return copy.deepcopy(dict(value)) if value is not None else None

        return cls(
            name=name,
            stages=tuple(stages),
            seed=seed,
            weighting=block("weighting"),
            blur=block("blur"),
            lerac=block("lerac"),
        )

    @property
    def total_steps(self) -> int:
        return self.stages[-1].stop

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group the plan trains on, in order of first appearance."""
        seen: dict[str, None] = {}
        for stage in self.stages:
            seen.update(dict.fromkeys(stage.groups))
        return tuple(seen)

    def stage_at(self, step: int) -> Stage:
        if not 0 <= step < self.total_steps:
            raise ValueError(f"step {step} is outside curriculum {self.name!r} (0 <= step < {self.total_steps})")
        return self.stages[bisect.bisect_right(self._starts, step) - 1]

    def pool_at(self, step: int) -> tuple[str, ...]:
        """The age groups sampled at ``step``."""
        return self.stage_at(step).groups


# How many times per stage the temperature is solved when pretrain.bucket_steps is "auto": enough that
# the effective fraction moves in steps of well under 1% of its range, few enough that the O(N)
# solve is amortised over many steps on long runs.
AUTO_BUCKETS_PER_STAGE = 200


def resolve_bucket_steps(value: int | str | None, plan: CurriculumPlan) -> int:
    """``pretrain.bucket_steps`` as a step count: an integer as given, ``"auto"`` (or None) from the plan.

    ``auto`` = shortest stage // AUTO_BUCKETS_PER_STAGE, at least 1: every step on a demo-sized run,
    100 steps on a 20,000-step stage.
    """
    if value is None or value == "auto":
        shortest = min(stage.stop - stage.start for stage in plan.stages)
        return max(1, shortest // AUTO_BUCKETS_PER_STAGE)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < 1:
        raise ValueError(f"pretrain.bucket_steps must be a positive integer or 'auto', got {value!r}")
    return int(value)
