"""Which age groups are trained on at which step: a curriculum's stages (docs/algorithms.md §A, "Stages").

One continuous run; the sampler switches pools at stage boundaries. Order kinds:

- a list of groups: one stage per listed group, in that order;
- ``shuffled``: every group once, in an order drawn from the curriculum's ``seed`` (``seed: run``: from
  the run's seed, so every seed of a study trains its own order, as the seed study's random
  condition drew its subjects per run);
- ``mixed``: ONE stage pooling every group, lasting len(groups) * steps_per_stage steps, so that
  every curriculum over all groups trains for the same number of steps.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from devcurriculum.config import BlurConfig, CurriculumConfig, LeracConfig, WeightingConfig

log = logging.getLogger("devcurriculum.curriculum.plan")

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
    """The stages of one named curriculum plus its optional weighting / blur / LeRaC blocks.

    ``seed`` is the seed the order was drawn from (``curricula.<name>.seed``, or the run's for ``run``).
    """

    name: str
    stages: tuple[Stage, ...]
    seed: int = 0
    weighting: WeightingConfig | None = None
    blur: BlurConfig | None = None
    lerac: LeracConfig | None = None
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
        cls, *, name: str, curriculum: CurriculumConfig, groups: Sequence[str], steps_per_stage: int,
        run_seed: int | None = None,
    ) -> CurriculumPlan:
        """The plan of ``curricula.<name>`` given the age-group names in config order.

        ``run_seed`` (the run's seed) is needed when the curriculum's ``seed`` is ``run``.
        """
        groups = [str(g) for g in groups]
        if not groups:
            raise ValueError(f"curricula.{name}: no age groups are defined (data.age_groups is empty)")
        if len(set(groups)) != len(groups):
            raise ValueError(f"curricula.{name}: age groups are not unique: {groups}")
        seed = order_seed(name, curriculum, run_seed)
        stage_groups = _stage_groups(name, curriculum, groups, seed)
        # mixed pools every group in one stage as long as all of them, so every curriculum over all
        # groups trains for the same number of steps
        length = steps_per_stage * (len(groups) if curriculum.order == "mixed" else 1)
        stages = tuple(
            Stage(index=i, groups=members, start=i * length, stop=(i + 1) * length)
            for i, members in enumerate(stage_groups)
        )
        return cls(
            name=name,
            stages=stages,
            seed=seed,
            weighting=curriculum.weighting,
            blur=curriculum.blur,
            lerac=curriculum.lerac,
        )

    @property
    def total_steps(self) -> int:
        return self.stages[-1].stop

    @property
    def prototype_weighting(self) -> WeightingConfig | None:
        """The weighting block when it weights samples by difficulty (None when absent or uniform)."""
        if self.weighting is None or self.weighting.kind == "uniform":
            return None
        return self.weighting

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


def order_seed(name: str, curriculum: CurriculumConfig, run_seed: int | None) -> int:
    """The seed of the curriculum's order: ``curricula.<name>.seed``, or the run's seed for ``run``."""
    if curriculum.seed != "run":
        return int(curriculum.seed)
    if run_seed is None:
        raise ValueError(f"curricula.{name}.seed is 'run': the plan needs the run's seed (run_seed)")
    return int(run_seed)


def _stage_groups(name: str, curriculum: CurriculumConfig, groups: list[str], seed: int) -> list[tuple[str, ...]]:
    """The groups of each stage, in order."""
    order = curriculum.order
    if order == "mixed":
        return [tuple(groups)]
    if order == "shuffled":
        permutation = np.random.default_rng(seed).permutation(len(groups))
        log.info("curricula.%s: shuffled order (seed %d): %s", name, seed, [groups[i] for i in permutation])
        return [(groups[i],) for i in permutation]
    # The workflow checks this when the config is built; a library caller passes groups of its own.
    unknown = [g for g in order if g not in groups]
    if unknown:
        raise ValueError(f"curricula.{name}.order names unknown age group(s) {unknown}; known: {groups}")
    return [(g,) for g in order]


# How many times per stage the temperature is solved when pretrain.bucket_steps is "auto": enough that
# the effective fraction moves in steps of well under 1% of its range, few enough that the O(N)
# solve is amortised over many steps on long runs.
AUTO_BUCKETS_PER_STAGE = 200


def resolve_bucket_steps(value: int | Literal["auto"], plan: CurriculumPlan) -> int:
    """``pretrain.bucket_steps`` as a step count: an integer as given, ``"auto"`` from the plan.

    ``auto`` = shortest stage // AUTO_BUCKETS_PER_STAGE, at least 1: every step on a demo-sized run,
    100 steps on a 20,000-step stage. The one place that reads the setting (the schema's default is
    ``auto``); a value that is neither is an error naming the key.
    """
    if value == "auto":
        shortest = min(stage.stop - stage.start for stage in plan.stages)
        return max(1, shortest // AUTO_BUCKETS_PER_STAGE)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < 1:
        raise ValueError(f"pretrain.bucket_steps must be a positive integer or 'auto', got {value!r}")
    return int(value)
