"""The demo world's statistics: endpoints from ``demo.world``, linear in age, errors that name the key."""

from __future__ import annotations

import pytest
from demo_cases import GROUPS

from devcurriculum.config import ConfigError, DemoConfig, DemoWorldConfig
from devcurriculum.demo import World, plan_subjects


def test_world_endpoints_and_linear_age_dependence(world: World) -> None:
    assert world.age_span == (0.0, 400.0)
    young, old, mid = world.at_age(0), world.at_age(400), world.at_age(200)
    for key, (y, o) in DemoWorldConfig().trends().items():
        assert getattr(young, key) == pytest.approx(y)
        assert getattr(old, key) == pytest.approx(o)
        assert getattr(mid, key) == pytest.approx((y + o) / 2)
    assert world.at_age(-50) == young and world.at_age(10_000) == old  # clamped outside the span
    assert young.face_fraction == pytest.approx(15 / 60) and old.face_fraction == pytest.approx(5 / 60, abs=1e-3)


def test_world_overrides() -> None:
    cfg = DemoWorldConfig.from_mapping({"face_fraction": 0.1, "n_objects": [1, 3], "age_span_days": [100, 200]})
    world = World.from_config(cfg, GROUPS)
    assert world.endpoints["face_fraction"] == (0.1, 0.1)
    assert world.at_age(150).n_objects == pytest.approx(2.0)
    assert world.age_fraction(100) == 0.0 and world.age_fraction(250) == 1.0


def test_world_span_defaults_to_the_age_groups() -> None:
    world = World.from_config(DemoWorldConfig(), {"b": (50.0, 90.0), "a": (10.0, 50.0)})
    assert world.age_span == (10.0, 90.0)


@pytest.mark.parametrize(
    ("world", "match"),
    [
        ({"faces": [1, 2]}, r"demo\.world\.faces: unknown key"),
        ({"face_scale": [0.5]}, r"demo\.world\.face_scale: \[0\.5\] is not valid"),
        ({"face_fraction": [0.2, 1.5]}, r"demo\.world\.face_fraction: values must lie in \[0, 1\]"),
        ({"object_scale": [0.2, 0]}, r"demo\.world\.object_scale: values must be > 0"),
        ({"n_objects": [-1, 3]}, r"demo\.world\.n_objects: values must be finite and >= 0"),
        ({"texture_families": [1, 9]}, r"demo\.world\.texture_families: values must lie in \[1, 7\]"),
        ({"age_span_days": [300, 100]}, r"demo\.world\.age_span_days: must be \[youngest, oldest\] with youngest < oldest"),
    ],
)
def test_world_errors_name_the_key(world: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DemoWorldConfig.from_mapping(world)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"size": 33}, r"demo\.size: 33 is not a multiple of 2"),
        ({"fps": 0}, r"demo\.fps: 0 is less than the minimum of 1"),
        ({"sizes": 32}, r"demo\.sizes: unknown key"),
        ({"benchmark": {"shapes": ["circle", "hexagon"]}}, r"demo\.benchmark\.shapes\[1\]: 'hexagon' is not one of"),
        ({"benchmark": {"directions": ["left", "left"]}}, r"demo\.benchmark\.directions: values must be distinct"),
        ({"benchmark": {"travel": 0.9}}, r"demo\.benchmark\.travel: 0\.9 is greater than or equal to the maximum"),
    ],
)
def test_demo_config_errors_name_the_key(cfg: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DemoConfig.from_mapping(cfg)


def test_demo_config_defaults() -> None:
    demo = DemoConfig()
    assert (demo.n_frames, demo.size, demo.benchmark.clips_per_class) == (120, 96, 24)


def test_plan_subjects_spreads_ages_inside_each_group() -> None:
    subjects = plan_subjects(GROUPS, 4, seed=0)
    assert len({s.name for s in subjects}) == 12
    assert [s.index for s in subjects] == list(range(12))
    for name, (lo, hi) in GROUPS.items():
        ages = [s.age_days for s in subjects if s.group == name]
        width = (hi - lo) / 4
        for j, age in enumerate(ages):  # subject j falls in the j-th quarter of its group's range
            assert lo + j * width - 0.01 <= age < lo + (j + 1) * width
    assert plan_subjects(GROUPS, 4, seed=0) == subjects
    assert plan_subjects(GROUPS, 4, seed=1) != subjects
