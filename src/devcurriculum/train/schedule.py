"""The main learning-rate schedule and its composition with LeRaC, in closed form per step.

The training loop sets every parameter group's ``lr`` from :func:`group_rates` at each step
instead of stacking PyTorch schedulers: chained schedulers sharing ``initial_lr`` silently undid the
LeRaC curriculum in the hybrid project (docs/algorithms.md §D). A closed form is also trivially resumable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from devcurriculum.config import PretrainConfig
from devcurriculum.curriculum.lerac import LeracSchedule

#: a learning rate per optimiser step
LrSchedule = Callable[[int], float]


def main_schedule_lr(
    step: int,
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    min_lr: float,
    hold_steps: int = 0,
) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine from ``base_lr`` to ``min_lr``.

    Warm-up: step t < warmup_steps gets base·(t+1)/warmup_steps (never 0, base at the last warm-up
    step). With ``hold_steps > 0`` (LeRaC active, hold_steps = its K) the first ``hold_steps`` steps
    are held at ``base_lr`` *instead of* the linear warm-up (``warmup_steps`` is then ignored: LeRaC is
    the warm-up). The cosine runs over [start, total_steps) with start = the warm-up or hold length,
    beginning exactly at ``base_lr`` and reaching ``min_lr`` at the last step.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if warmup_steps < 0 or hold_steps < 0:
        raise ValueError(f"warmup_steps and hold_steps must be >= 0, got {warmup_steps}, {hold_steps}")
    if base_lr <= 0 or min_lr < 0 or min_lr > base_lr:
        raise ValueError(f"need 0 <= min_lr <= base_lr, got min_lr={min_lr}, base_lr={base_lr}")
    if hold_steps > 0:
        start = hold_steps
        if step < hold_steps:
            return float(base_lr)
    else:
        start = warmup_steps
        if step < warmup_steps:
            return float(base_lr * (step + 1) / warmup_steps)
    span = total_steps - 1 - start
    if span <= 0:
        return float(base_lr)
    progress = min(1.0, (step - start) / span)
    return float(min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def main_schedule(pretrain: PretrainConfig, total_steps: int, lerac: LeracSchedule | None = None) -> LrSchedule:
    """The main schedule of ``pretrain.lr_schedule`` bound to a run (holding the base rate under LeRaC).

    - ``continuous``: :func:`main_schedule_lr` over the whole run;
    - ``per_stage``: the same warm-up + cosine restarted every ``steps_per_stage`` steps, so every
      stage (and every block of a mixed run) trains under the same rates;
    - ``constant``: the warm-up, then ``lr``.

    LeRaC's warm-up holds the base rate in every kind (LeRaC's scales are the warm-up then). With
    ``pretrain.lr_stage_factors`` the kind's rate is multiplied by the factor of the step's block of
    ``steps_per_stage`` steps (:func:`stage_factor`): per-stage rates are this one closed form too.
    """
    kind = _schedule_kind(pretrain, total_steps, lerac)
    factors = pretrain.lr_stage_factors
    if not factors:
        return kind
    period = pretrain.steps_per_stage

    def scaled(step: int) -> float:
        return kind(step) * stage_factor(step, period, factors)

    return scaled


def stage_factor(step: int, steps_per_stage: int, factors: Sequence[float]) -> float:
    """The factor of ``step``'s block of ``steps_per_stage`` steps (block k -> ``factors[k]``, the last after the end)."""
    return float(factors[min(step // steps_per_stage, len(factors) - 1)])


def _schedule_kind(pretrain: PretrainConfig, total_steps: int, lerac: LeracSchedule | None) -> LrSchedule:
    """The rate of ``pretrain.lr_schedule`` per step, before any per-stage factor."""
    hold = lerac.warmup_steps if lerac is not None else 0
    lr, warmup, min_lr = pretrain.lr, pretrain.warmup_steps, pretrain.min_lr
    period = pretrain.steps_per_stage

    def continuous(step: int) -> float:
        return main_schedule_lr(step, lr, total_steps, warmup, min_lr, hold_steps=hold)

    def per_stage(step: int) -> float:
        if step < hold:
            return float(lr)
        return main_schedule_lr(step % period, lr, min(period, total_steps), warmup, min_lr)

    def constant(step: int) -> float:
        if step < hold or step >= warmup:
            return float(lr)
        return float(lr * (step + 1) / warmup)

    return {"continuous": continuous, "per_stage": per_stage, "constant": constant}[pretrain.lr_schedule]


def group_rates(step: int, main: LrSchedule, lerac: LeracSchedule | None, n_groups: int) -> tuple[float, list[float]]:
    """(main rate, per-group rates) at ``step``: group ``g`` gets ``main(step) * lerac.scales(step)[g]``."""
    base = float(main(step))
    if lerac is None:
        return base, [base] * n_groups
    scales = [float(s) for s in lerac.scales(step)]
    if len(scales) != n_groups:
        raise ValueError(f"LeRaC gives {len(scales)} scales but the objective has {n_groups} depth groups")
    return base, [base * s for s in scales]


def group_learning_rates(
    step: int,
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    min_lr: float,
    lerac: LeracSchedule | None = None,
    n_groups: int = 1,
) -> np.ndarray:
    """Every parameter group's rate at ``step``: main_lr(t) × scale_j(t) (the LeRaC hand-over contract).

    Without LeRaC all ``n_groups`` groups follow the main schedule with its linear warm-up; with it
    (one group per LeRaC scale), the main schedule holds the base rate for LeRaC's K steps and the
    scales do the warm-up.
    """
    hold = lerac.warmup_steps if lerac is not None else 0

    def main(t: int) -> float:
        return main_schedule_lr(t, base_lr, total_steps, warmup_steps, min_lr, hold_steps=hold)

    return np.asarray(group_rates(step, main, lerac, lerac.n_groups if lerac is not None else n_groups)[1])
