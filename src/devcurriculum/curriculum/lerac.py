"""LeRaC learning-rate curriculum (docs/algorithms.md §D): deep layers start slow and catch up.

Each parameter group j (ordered input side first, as ``Objective.depth_groups()`` returns them) starts
at a small rate η_j(0) ≤ η(0) and reaches the base rate η(0) at the end of LeRaC's warm-up K. Two
rules are offered, because the paper and the official code disagree:

* ``paper``: η_j(t) = η_j(0)^(1 − t/K) · η(0)^(t/K) for t < K (log-linear; every group arrives at K).
* ``official``: at each of ``updates`` update points, lr ← lr·c while lr·c < stop_lr (1.1·η(0));
  shallow groups equalise first, and every group is set to η(0) at K.

Hand-over contract with the training loop
-----------------------------------------
The rate of group j at step t is ``main_lr(t) × scale_j(t)``, where ``scale_j(t)`` is
:meth:`LeracSchedule.scales` (η_j(t)/η(0)) and ``main_lr`` is
:func:`devcurriculum.train.schedule.main_schedule_lr` called with ``hold_steps = K``: when LeRaC is
active the main schedule *holds* the base rate during LeRaC's warm-up (LeRaC replaces the main
warm-up) and decays from the base rate afterwards. So every group equals the base rate exactly at
t = K and follows the main schedule from then on (scales are exactly 1.0 for t ≥ K).

The loop sets ``group["lr"]`` from this closed form every step. It must never chain two PyTorch
LR schedulers that share ``initial_lr``: the hybrid project did, and at the end of warm-up every layer
fell back to its small start rate, undoing the curriculum (docs/algorithms.md §D, "After the curriculum").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from devcurriculum.config import LeracConfig

log = logging.getLogger("devcurriculum.curriculum.lerac")

MODES = ("paper", "official")

# The official code stops multiplying once lr·c would reach "just above" the base rate.
STOP_FACTOR = 1.1


def lerac_learning_rates(
    initial_rates: Sequence[float] | np.ndarray,
    base_lr: float,
    step: int,
    warmup_steps: int,
    mode: str = LeracConfig.mode,
    c: float = LeracConfig.c,
) -> np.ndarray:
    """Each group's learning rate at ``step`` (float64 array shaped like ``initial_rates``).

    ``paper``: ``step`` and ``warmup_steps`` (k) are optimiser steps; η_j(0)^(1−t/k)·η(0)^(t/k) for
    t < k, η(0) from k on. ``official``: ``step`` counts update points already passed and
    ``warmup_steps`` is the number of update points; each passed point multiplies lr by ``c`` while
    lr·c < 1.1·η(0); from ``warmup_steps`` on every group is at η(0).
    """
    rates = np.asarray(initial_rates, dtype=np.float64)
    if mode not in MODES:
        raise ValueError(f"lerac mode must be one of {MODES}, got {mode!r}")
    if base_lr <= 0:
        raise ValueError(f"base_lr must be > 0, got {base_lr}")
    if np.any(rates <= 0) or np.any(rates > base_lr * (1 + 1e-12)):
        raise ValueError(f"initial rates must lie in (0, base_lr={base_lr}], got {rates.tolist()}")
    if step < 0 or warmup_steps < 0:
        raise ValueError(f"step and warmup_steps must be >= 0, got {step}, {warmup_steps}")
    if step >= warmup_steps:
        return np.full_like(rates, base_lr)
    if mode == "paper":
        a = step / warmup_steps
        # In log space: exp((1−a)·log η_j + a·log η) is the same product without underflow.
        return np.exp((1.0 - a) * np.log(rates) + a * math.log(base_lr))
    if c <= 1:
        raise ValueError(f"lerac c must be > 1, got {c}")
    stop_lr = STOP_FACTOR * base_lr
    lr = rates.copy()
    for _ in range(step):
        grow = lr * c < stop_lr
        if not grow.any():
            break
        lr = np.where(grow, lr * c, lr)
    return lr


def official_initial_rates(n_blocks: int, base_lr: float, min_lr: float, head_scale: float) -> np.ndarray:
    """The official code's start rates: ``[stem, block_0 … block_{n−1}, head]`` (length n_blocks + 2).

    The stem starts at ``base_lr``; blocks start at base_lr·0.1 and each next block gets a tenth of
    the previous while the previous is still above ``min_lr`` (so the deepest blocks share the first
    value ≤ min_lr); the head starts at base_lr·head_scale. The float arithmetic is kept as is: with
    base 0.1 and min_lr 1e−5 the fourth block is 1.0000000000000004e−5 > 1e−5, so one more division
    happens than exact arithmetic would give (docs/algorithms.md §D, "Official code"; reproduced on purpose).
    """
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    if base_lr <= 0 or min_lr <= 0 or head_scale <= 0:
        raise ValueError("base_lr, min_lr and head_scale must all be > 0")
    rates = [base_lr]
    lr = base_lr * 0.1
    for _ in range(n_blocks):
        rates.append(lr)
        if lr > min_lr:
            lr = lr * 0.1
    rates.append(base_lr * head_scale)
    return np.asarray(rates, dtype=np.float64)


def paper_initial_scales(n_groups: int, min_scale: float) -> np.ndarray:
    """Start scales η_j(0)/η(0), geometric in depth: 1 for the input-side group down to ``min_scale``.

    Groups are ordered input side first with the head(s) last, so the head starts lowest. One group
    has no depth to order by and keeps scale 1 (no curriculum).
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    if not 0 < min_scale <= 1:
        raise ValueError(f"lerac.min_scale must be in (0, 1], got {min_scale}")
    if n_groups == 1:
        return np.ones(1)
    return np.power(min_scale, np.arange(n_groups) / (n_groups - 1), dtype=np.float64)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _warn_if_updates_fall_short(scales: np.ndarray, cfg: LeracConfig, warmup_steps: int) -> None:
    """Official mode: say so when ``updates`` multiplications by ``c`` cannot lift the slowest group."""
    reach = np.ceil(np.log(1.0 / scales) / math.log(cfg.c) - 1e-9)
    if reach.max() > cfg.updates:
        log.warning(
            "lerac official: the slowest group needs %d updates to reach the base rate but "
            "lerac.updates is %d; it jumps to the base rate at step %d",
            int(reach.max()), cfg.updates, warmup_steps,
        )


@dataclass(frozen=True)
class LeracSchedule:
    """Per-group scales (group lr / base lr) over training; exactly 1.0 for every group from ``warmup_steps``.

    ``warmup_steps`` (K) is ``warmup_fraction × total_steps`` rounded half up, at least 1. In official
    mode ``config.updates`` update points are spread evenly over K: update point i (1-based) is passed
    at step ⌈i·K/updates⌉, i.e. ⌊t·updates/K⌋ points have passed at step t < K.
    """

    config: LeracConfig
    warmup_steps: int
    initial_scales: np.ndarray = field(repr=False)
    base_lr: float

    def __post_init__(self) -> None:
        if self.warmup_steps < 1:
            raise ValueError(f"lerac warm-up must last at least one step, got {self.warmup_steps}")

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def n_groups(self) -> int:
        return len(self.initial_scales)

    @classmethod
    def from_config(cls, cfg: LeracConfig, n_groups: int, total_steps: int, base_lr: float) -> LeracSchedule:
        """The schedule of a curriculum's ``lerac`` block for ``n_groups`` depth groups (input side first).

        ``base_lr`` only matters in official mode, whose start rates depend on absolute float values
        (pass ``pretrain.lr`` to reproduce the official code's rounding exactly); scales are relative.
        Official mode reads the groups as ``[stem, blocks…, head]``: n_groups − 2 blocks.
        """
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        warmup = max(1, _round_half_up(cfg.warmup_fraction * total_steps))
        if cfg.mode == "paper":
            scales = paper_initial_scales(n_groups, cfg.min_scale)
        else:
            if n_groups < 2:
                raise ValueError(f"lerac official mode needs a stem and a head (>= 2 depth groups), got {n_groups}")
            scales = official_initial_rates(n_groups - 2, base_lr, base_lr * cfg.min_scale, cfg.head_scale) / base_lr
            _warn_if_updates_fall_short(scales, cfg, warmup)
        return cls(config=cfg, warmup_steps=warmup, initial_scales=scales, base_lr=float(base_lr))

    def updates_passed(self, step: int) -> int:
        """Official mode: the number of update points passed at ``step`` (``updates`` from K on)."""
        updates = self.config.updates
        if step >= self.warmup_steps:
            return updates
        return (step * updates) // self.warmup_steps

    def scales(self, step: int) -> np.ndarray:
        """η_j(step)/η(0) for every group (float64); exactly 1.0 everywhere for ``step >= warmup_steps``."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step >= self.warmup_steps:
            return np.ones(self.n_groups)
        initial = self.initial_scales * self.base_lr
        if self.mode == "paper":
            rates = lerac_learning_rates(initial, self.base_lr, step, self.warmup_steps, "paper")
        else:
            rates = lerac_learning_rates(
                initial, self.base_lr, self.updates_passed(step), self.config.updates, "official", self.config.c
            )
        return rates / self.base_lr

    def min_scale(self, step: int) -> float:
        """The smallest group scale at ``step`` (the curriculum preview's ``lr_scale_min``)."""
        return float(self.scales(step).min())
