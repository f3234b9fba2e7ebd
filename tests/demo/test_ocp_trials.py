"""The demo's object-contact-prediction trials: the label is what happens, and it happens after the clip."""

from __future__ import annotations

import numpy as np
import pytest

from devcurriculum.config import ClipConfig, DemoConfig, DemoOCPSource
from devcurriculum.demo.ocp import AFTER, MIN_GAP, design_trial, render_ocp_set

TRIAL = 3.0
OBSERVED = 15 / 14  # 8 stored frames 2 apart: the last rendered frame


@pytest.mark.parametrize("scenario", ["aim", "speed"])
def test_the_label_is_whether_the_balls_touch_within_the_trial_and_never_during_the_clip(scenario: str) -> None:
    rng = np.random.default_rng(0)
    for k in range(60):
        touches = k % 2 == 0
        trial = design_trial(scenario, touches, observed=OBSERVED, trial=TRIAL, rng=rng)
        taus = np.linspace(0.0, TRIAL, 6001)
        gaps = np.array([trial.gap(t) for t in taus])
        assert (gaps.min() < 0) == touches, (scenario, k, gaps.min())
        assert gaps[taus <= OBSERVED].min() >= MIN_GAP  # apart through the whole clip
        if touches:
            assert taus[np.argmax(gaps < 0)] >= OBSERVED + AFTER - 1e-3
        # the clip stays in the frame
        for tau in np.linspace(0.0, OBSERVED, 9):
            x, y = trial.agent_at(tau)
            assert trial.agent_radius <= x <= 1 - trial.agent_radius and trial.agent_radius <= y <= 1 - trial.agent_radius
        if scenario == "speed":
            assert trial.decel > 0 and abs(trial.offset) < 0.3 * trial.reach
            # no touch: it stops short of the yellow ball; a touch: it is still moving when they touch
            contact = trial.contact_time(TRIAL)
            assert (contact is None) if not touches else contact < trial.stop_time


def test_a_rendered_set_is_balanced_reproducible_and_shaped_like_the_clips() -> None:
    demo = DemoConfig.from_mapping({"size": 64, "fps": 15})
    clip = ClipConfig.from_mapping({"frames": 4, "frame_step": 2, "stride": 4, "size": 16})
    ocp = DemoOCPSource.from_mapping({"source": "demo", "items_per_scenario": 4, "seed": 3})
    groups = {"g0": (0.0, 120.0), "g1": (120.0, 400.0)}
    first = render_ocp_set(ocp, world=demo.world, age_groups=groups, clip=clip, size=demo.size, fps=demo.fps)
    again = render_ocp_set(ocp, world=demo.world, age_groups=groups, clip=clip, size=demo.size, fps=demo.fps)
    assert [c.trial.touches for c in first] == [True, False] * 4
    assert [c.scenario for c in first] == ["aim"] * 4 + ["speed"] * 4
    for a, b in zip(first, again, strict=True):
        assert a.clip.shape == (4, 16, 16, 3) and a.clip.dtype == np.uint8
        assert np.array_equal(a.clip, b.clip) and a.trial == b.trial
        assert a.frame_indices.tolist() == [0, 2, 4, 6]
        # red and yellow are in view: a reddish and a yellowish pixel in every frame
        rgb = a.clip.astype(int)
        red = (rgb[..., 0] > 150) & (rgb[..., 1] < 110) & (rgb[..., 2] < 110)
        yellow = (rgb[..., 0] > 150) & (rgb[..., 1] > 130) & (rgb[..., 2] < 110)
        assert red.any(axis=(1, 2)).all() and yellow.any(axis=(1, 2)).all()
    other = DemoOCPSource.from_mapping({"source": "demo", "items_per_scenario": 4, "seed": 4})
    moved = render_ocp_set(other, world=demo.world, age_groups=groups, clip=clip, size=demo.size, fps=demo.fps)
    assert not np.array_equal(first[0].clip, moved[0].clip)


def test_an_odd_item_count_is_refused() -> None:
    from devcurriculum.config import ConfigError

    with pytest.raises(ConfigError, match=r"items_per_scenario: 5 is odd"):
        DemoOCPSource.from_mapping({"source": "demo", "items_per_scenario": 5})
