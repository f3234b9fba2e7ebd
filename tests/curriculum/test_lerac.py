"""LeRaC: §D reference values for both modes, ResNet-18 official start rates, and the hand-over."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn
from torchvision.models import resnet18

from devcurriculum.config import ConfigError, LeracConfig
from devcurriculum.curriculum.lerac import (
    LeracSchedule,
    lerac_learning_rates,
    official_initial_rates,
    paper_initial_scales,
)
from devcurriculum.train.schedule import group_learning_rates, main_schedule_lr


def test_paper_reference_values() -> None:
    rates = np.array([1e-2, 1e-6])
    got = np.stack([lerac_learning_rates(rates, 0.1, t, 5, mode="paper") for t in range(6)])
    np.testing.assert_allclose(got[:, 0], [0.01, 0.0158489, 0.0251189, 0.0398107, 0.0630957, 0.1], rtol=1e-5)
    np.testing.assert_allclose(got[:, 1], [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1], rtol=1e-9)
    assert np.all(lerac_learning_rates(rates, 0.1, 9, 5) == 0.1)


def test_paper_rates_do_not_depend_on_c() -> None:
    rates = np.array([1e-3, 1e-4])
    np.testing.assert_array_equal(
        lerac_learning_rates(rates, 0.1, 2, 5, c=10), lerac_learning_rates(rates, 0.1, 2, 5, c=3)
    )


def _resnet18_blocks() -> list[tuple[str, nn.Module]]:
    """torchvision ResNet-18 as ordered depth groups: stem, layer1.0 … layer4.1, fc."""
    model = resnet18(weights=None)
    blocks = [(f"{name}.{i}", block) for name in ("layer1", "layer2", "layer3", "layer4")
              for i, block in enumerate(getattr(model, name))]
    return [("stem", nn.Sequential(model.conv1, model.bn1)), *blocks, ("fc", model.fc)]


def test_official_initial_rates_resnet18() -> None:
    groups = _resnet18_blocks()
    names = [n for n, _ in groups]
    assert names[1:-1] == ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]
    rates = official_initial_rates(len(groups) - 2, base_lr=0.1, min_lr=1e-5, head_scale=1e-3)
    expected = {"stem": 0.1, "layer1.0": 1e-2, "layer1.1": 1e-3, "layer2.0": 1e-4, "layer2.1": 1e-5,
                "layer3.0": 1e-6, "layer3.1": 1e-6, "layer4.0": 1e-6, "layer4.1": 1e-6, "fc": 1e-4}
    for name, rate in zip(names, rates, strict=True):
        assert rate == pytest.approx(expected[name], rel=1e-9), name
    # the float quirk: 0.1·0.1⁴ lands just above min_lr, hence the extra division
    assert rates[4] > 1e-5


def test_official_updates_equalise_shallow_first_and_all_at_update_5() -> None:
    rates = official_initial_rates(8, base_lr=0.1, min_lr=1e-5, head_scale=1e-3)
    per_update = [lerac_learning_rates(rates, 0.1, u, 5, mode="official") for u in range(7)]
    np.testing.assert_allclose(per_update[1][:5], [0.1, 0.1, 1e-2, 1e-3, 1e-4], rtol=1e-9)
    np.testing.assert_allclose(per_update[1][5:], [1e-5] * 4 + [1e-3], rtol=1e-9)
    # the 1e-6 blocks need log10(0.1/1e-6) = 5 updates; 4 updates leave them one decade short
    np.testing.assert_allclose(per_update[4][5:9], [1e-2] * 4, rtol=1e-9)
    for u in (5, 6):  # "every group is at 0.1 from epoch 6" (after five updates)
        assert np.all(per_update[u] == 0.1)
    # never above the base rate on the way (stop_lr = 1.1 × base)
    assert max(float(r.max()) for r in per_update) <= 0.1 * (1 + 1e-12)


def test_paper_initial_scales_geometric_head_last() -> None:
    s = paper_initial_scales(4, 1e-3)
    np.testing.assert_allclose(s, [1.0, 1e-1, 1e-2, 1e-3], rtol=1e-12)
    assert paper_initial_scales(1, 1e-3).tolist() == [1.0]


def test_schedule_from_config_paper() -> None:
    sched = LeracSchedule.from_config(LeracConfig(mode="paper", warmup_fraction=0.25, min_scale=1e-4), 3, 40, base_lr=1.0)
    assert sched.warmup_steps == 10
    np.testing.assert_allclose(sched.scales(0), [1.0, 1e-2, 1e-4], rtol=1e-12)
    np.testing.assert_allclose(sched.scales(5), [1.0, 1e-1, 1e-2], rtol=1e-12)
    assert np.all(sched.scales(10) == 1.0) and np.all(sched.scales(39) == 1.0)
    assert sched.min_scale(0) == pytest.approx(1e-4)


def test_schedule_from_config_official_spreads_updates_over_warmup() -> None:
    cfg = LeracConfig(mode="official", warmup_fraction=0.5, min_scale=1e-4, head_scale=1e-3, updates=5, c=10)
    sched = LeracSchedule.from_config(cfg, 10, 100, base_lr=0.1)  # stem, 8 blocks, head; K = 50
    assert sched.warmup_steps == 50
    assert [sched.updates_passed(t) for t in (0, 9, 10, 19, 20, 49, 50)] == [0, 0, 1, 1, 2, 4, 5]
    np.testing.assert_allclose(sched.scales(0), official_initial_rates(8, 0.1, 1e-5, 1e-3) / 0.1, rtol=1e-9)
    np.testing.assert_allclose(sched.scales(10)[:3], [1.0, 1.0, 0.1], rtol=1e-9)
    assert np.all(sched.scales(50) == 1.0)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="lerac.mode"):
        LeracConfig.from_mapping({"mode": "linear"})
    with pytest.raises(ConfigError, match=r"lerac.warmup: unknown key"):
        LeracConfig.from_mapping({"mode": "paper", "warmup": 0.2})
    with pytest.raises(ValueError, match="needs a stem and a head"):
        LeracSchedule.from_config(LeracConfig(mode="official"), 1, 10, base_lr=0.1)
    with pytest.raises(ValueError, match="initial rates"):
        lerac_learning_rates([0.2], 0.1, 0, 5)


@pytest.mark.parametrize("mode", ["paper", "official"])
def test_handover_every_group_at_base_after_warmup_then_follows_main(mode: str) -> None:
    """Composing main_schedule_lr (hold = K) with the scales makes the hybrid project's defect impossible."""
    base, min_lr, total = 0.1, 1e-4, 200
    sched = LeracSchedule.from_config(LeracConfig(mode=mode, warmup_fraction=0.3, min_scale=1e-5), 10, total, base_lr=base)
    k = sched.warmup_steps
    assert k == 60
    lrs = np.stack([group_learning_rates(t, base, total, 20, min_lr, lerac=sched) for t in range(total)])
    # during warm-up the main schedule holds base, so group rates are the curriculum itself
    np.testing.assert_allclose(lrs[:k], base * np.stack([sched.scales(t) for t in range(k)]), rtol=1e-12)
    assert lrs[0].min() < base * 1e-3  # deep groups really start low
    # right at K every group is exactly the base rate (not its small start rate)
    assert np.all(lrs[k] == base)
    # afterwards every group follows the main schedule, which decays from base to min_lr
    main = np.array([main_schedule_lr(t, base, total, 20, min_lr, hold_steps=k) for t in range(k, total)])
    np.testing.assert_array_equal(lrs[k:], np.repeat(main[:, None], 10, axis=1))
    assert np.all(np.diff(main) <= 0) and main[-1] == pytest.approx(min_lr)
    # and no group ever drops back below where it was once the curriculum ended
    assert np.all(lrs[k:].min(axis=1) >= min_lr - 1e-15)
