"""Main learning-rate schedule: linear warm-up, cosine decay, and the LeRaC hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devcurriculum.train.schedule import group_learning_rates, main_schedule_lr


def test_linear_warmup_then_cosine() -> None:
    lrs = [main_schedule_lr(t, 1.0, 11, 4, 0.0) for t in range(11)]
    np.testing.assert_allclose(lrs[:4], [0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == 1.0  # cosine starts at base
    assert lrs[-1] == pytest.approx(0.0, abs=1e-15)
    # halfway through the cosine (steps 4..10, span 6): 0.5
    assert lrs[7] == pytest.approx(0.5)
    assert main_schedule_lr(50, 1.0, 11, 4, 0.1) == pytest.approx(0.1)  # past the end: min_lr


def test_hold_replaces_warmup() -> None:
    lrs = [main_schedule_lr(t, 0.2, 20, 5, 0.02, hold_steps=8) for t in range(20)]
    assert lrs[:9] == [0.2] * 9
    assert lrs[9] < 0.2 and lrs[-1] == pytest.approx(0.02)
    expected = 0.02 + 0.18 * 0.5 * (1 + math.cos(math.pi * (14 - 8) / 11))
    assert lrs[14] == pytest.approx(expected)


def test_no_warmup_and_errors() -> None:
    assert main_schedule_lr(0, 0.5, 10, 0, 0.0) == 0.5
    with pytest.raises(ValueError, match="min_lr"):
        main_schedule_lr(0, 0.1, 10, 0, 0.2)
    with pytest.raises(ValueError, match="step"):
        main_schedule_lr(-1, 0.1, 10, 0, 0.0)


def test_group_rates_without_lerac_are_the_main_schedule() -> None:
    rates = group_learning_rates(2, 0.1, 10, 4, 0.0, n_groups=3)
    np.testing.assert_allclose(rates, [0.075] * 3, rtol=1e-12)


def _schedule(kind: str, **overrides: object):
    from devcurriculum.config import PretrainConfig
    from devcurriculum.train.schedule import main_schedule

    keys = {"lr": 0.1, "min_lr": 0.001, "warmup_steps": 3, "steps_per_stage": 10, "lr_schedule": kind, **overrides}
    pretrain = PretrainConfig(**keys)  # type: ignore[arg-type]
    return main_schedule(pretrain, total_steps=30)


def test_per_stage_gives_every_stage_the_same_rates() -> None:
    lr = _schedule("per_stage")
    first = [lr(t) for t in range(10)]
    for stage in (1, 2):
        assert [lr(10 * stage + t) for t in range(10)] == first
    assert lr(0) == lr(10) == lr(20) == pytest.approx(0.1 / 3)  # warm-up restarts at each stage start
    assert first[3] == pytest.approx(0.1) and first[9] == pytest.approx(0.001)
    # the continuous schedule, for contrast: the last stage runs at a fraction of the first's rate
    cont = _schedule("continuous")
    assert cont(20) < 0.5 * cont(3)


def test_constant_schedule_is_warmup_then_flat() -> None:
    lr = _schedule("constant")
    assert [lr(t) for t in range(3)] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1])
    assert {lr(t) for t in range(3, 30)} == {0.1}


def test_stage_factors_give_the_seed_study_simclr_rates() -> None:
    # the seed study's SimCLR: 0.01, then 0.001, then 0.0001, one rate per stage, no warm-up
    lr = _schedule("constant", lr=0.01, min_lr=0.0, warmup_steps=0, lr_stage_factors=(1.0, 0.1, 0.01))
    assert [lr(t) for t in (0, 9, 10, 19, 20, 29)] == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])
    assert lr(45) == pytest.approx(0.0001)  # past the list: its last factor
    # factors multiply whichever kind runs: per_stage restarts, then scales
    per_stage = _schedule("per_stage")
    scaled = _schedule("per_stage", lr_stage_factors=(1.0, 0.5))
    assert [scaled(t) for t in range(10)] == [per_stage(t) for t in range(10)]
    assert [scaled(t) for t in range(10, 30)] == pytest.approx([0.5 * per_stage(t) for t in range(10, 30)])


def test_stage_factors_go_through_the_group_rates() -> None:
    from devcurriculum.train.schedule import group_rates

    lr = _schedule("constant", warmup_steps=0, lr_stage_factors=(1.0, 0.1))
    base, rates = group_rates(15, lr, None, 2)
    assert base == pytest.approx(0.01) and rates == pytest.approx([0.01, 0.01])
