"""CurriculumPlan: stages for list, shuffled and mixed orders."""

from __future__ import annotations

import numpy as np
import pytest

from devcurriculum.config import ConfigError, CurriculumConfig, PretrainConfig, WeightingConfig
from devcurriculum.curriculum import CurriculumPlan
from devcurriculum.curriculum.plan import Stage

GROUPS = ["g0", "g1", "g2"]


def make_plan(name: str, curriculum: dict, groups: list[str], steps_per_stage: int) -> CurriculumPlan:
    """The plan of a ``curricula.<name>`` mapping (validated like the workflow's config)."""
    cfg = CurriculumConfig.from_mapping(curriculum, where=f"curricula.{name}")
    return CurriculumPlan.from_config(name=name, curriculum=cfg, groups=groups, steps_per_stage=steps_per_stage)


def test_list_order_one_stage_per_group() -> None:
    plan = make_plan("anti", {"order": ["g2", "g1", "g0"]}, GROUPS, 50)
    assert plan.total_steps == 150
    assert plan.stages == (
        Stage(0, ("g2",), 0, 50),
        Stage(1, ("g1",), 50, 100),
        Stage(2, ("g0",), 100, 150),
    )
    assert plan.pool_at(0) == ("g2",)
    assert plan.pool_at(49) == ("g2",)
    assert plan.pool_at(50) == ("g1",)
    assert plan.stage_at(149).index == 2
    with pytest.raises(ValueError, match="outside curriculum 'anti'"):
        plan.stage_at(150)


def test_subset_order_is_shorter() -> None:
    plan = make_plan("young", {"order": ["g0"]}, GROUPS, 20)
    assert plan.total_steps == 20 and plan.groups == ("g0",)


def test_unknown_group_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"curricula\.dev\.order names unknown age group\(s\) \['g9'\]"):
        make_plan("dev", {"order": ["g0", "g9"]}, GROUPS, 10)
    with pytest.raises(ConfigError, match=r"curricula\.x\.order: 'random' is not valid"):
        make_plan("x", {"order": "random"}, GROUPS, 10)


def test_shuffled_is_a_seeded_permutation() -> None:
    a = make_plan("s", {"order": "shuffled", "seed": 3}, GROUPS, 10)
    b = make_plan("s", {"order": "shuffled", "seed": 3}, GROUPS, 10)
    assert a.stages == b.stages
    assert sorted(s.groups[0] for s in a.stages) == GROUPS
    expected = [GROUPS[i] for i in np.random.default_rng(3).permutation(3)]
    assert [s.groups[0] for s in a.stages] == expected
    assert a.total_steps == 30
    orders = {tuple(s.groups[0] for s in make_plan("s", {"order": "shuffled", "seed": k}, GROUPS, 1).stages) for k in range(20)}
    assert len(orders) > 1


def test_mixed_is_one_pooled_stage_as_long_as_the_others() -> None:
    plan = make_plan(
        "proto",
        {"order": "mixed", "weighting": {"kind": "prototypes_first", "initial_fraction": 0.2, "warmup_fraction": 0.5}},
        GROUPS,
        40,
    )
    assert plan.stages == (Stage(0, ("g0", "g1", "g2"), 0, 120),)
    assert plan.total_steps == make_plan("d", {"order": GROUPS}, GROUPS, 40).total_steps
    assert plan.weighting == WeightingConfig(kind="prototypes_first", initial_fraction=0.2, warmup_fraction=0.5)
    assert plan.prototype_weighting == plan.weighting
    assert plan.blur is None and plan.lerac is None


def test_auto_bucket_steps_scales_with_the_shortest_stage() -> None:
    from devcurriculum.curriculum import resolve_bucket_steps

    demo = make_plan("d", {"order": ["g0", "g1", "g2"]}, ["g0", "g1", "g2"], 64)
    long_mixed = make_plan("m", {"order": "mixed"}, ["g0", "g1", "g2"], 20_000 // 3 + 1)
    assert resolve_bucket_steps("auto", demo) == 1
    assert PretrainConfig().bucket_steps == "auto"  # the one default: the schema's
    assert resolve_bucket_steps("auto", long_mixed) == (3 * (20_000 // 3 + 1)) // 200
    assert resolve_bucket_steps(7, long_mixed) == 7


@pytest.mark.parametrize("bad", [0, -3, 2.5, "fast", True, None])
def test_bad_bucket_steps_names_the_key(bad) -> None:
    from devcurriculum.curriculum import resolve_bucket_steps

    plan = make_plan("d", {"order": ["g0"]}, ["g0"], 10)
    with pytest.raises(ValueError, match=r"pretrain.bucket_steps must be a positive integer or 'auto'"):
        resolve_bucket_steps(bad, plan)


def test_shuffled_with_seed_run_draws_the_order_from_the_run_seed() -> None:
    cfg = CurriculumConfig.from_mapping({"order": "shuffled", "seed": "run"}, where="curricula.s")
    orders = {}
    for run_seed in range(8):
        plan = CurriculumPlan.from_config(name="s", curriculum=cfg, groups=GROUPS, steps_per_stage=5, run_seed=run_seed)
        # `seed: run` in run k is `seed: k`
        assert plan.stages == make_plan("s", {"order": "shuffled", "seed": run_seed}, GROUPS, 5).stages
        assert plan.seed == run_seed
        orders[run_seed] = tuple(s.groups[0] for s in plan.stages)
    assert len(set(orders.values())) > 1
    with pytest.raises(ValueError, match=r"curricula\.s\.seed is 'run': the plan needs the run's seed"):
        CurriculumPlan.from_config(name="s", curriculum=cfg, groups=GROUPS, steps_per_stage=5)
    with pytest.raises(ConfigError, match=r"^curricula\.s\.seed"):
        CurriculumConfig.from_mapping({"order": "shuffled", "seed": "per_run"}, where="curricula.s")
    # the default keeps one order for every run
    fixed = CurriculumConfig.from_mapping({"order": "shuffled"}, where="curricula.s")
    assert {CurriculumPlan.from_config(name="s", curriculum=fixed, groups=GROUPS, steps_per_stage=5, run_seed=k).stages
            for k in range(5)} == {make_plan("s", {"order": "shuffled", "seed": 0}, GROUPS, 5).stages}
