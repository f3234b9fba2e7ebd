"""Which source frames a benchmark clip takes: step, target rate, start position, padding."""

from __future__ import annotations

import numpy as np
import pytest

from devcurriculum.evalsets.labelled.sampling import frame_offsets, plan_clip


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [0, 1, 2, 3]),  # default: consecutive frames, as the seed study
        ({"frame_step": 3}, [0, 3, 6, 9]),
        ({"fps": 30.0, "target_fps": 15.0}, [0, 2, 4, 6]),  # every other frame
        ({"fps": 25.0, "target_fps": 10.0}, [0, 3, 5, 8]),  # 0, 2.5, 5, 7.5 -> nearest, halves up
        ({"fps": 10.0, "target_fps": 20.0}, [0, 1, 1, 2]),  # target above source: frames repeat
        ({"fps": 29.97, "target_fps": 29.97}, [0, 1, 2, 3]),
    ],
)
def test_frame_offsets(kwargs: dict, expected: list[int]) -> None:
    got = frame_offsets(4, **kwargs)
    assert got.dtype == np.int64 and got.tolist() == expected


def test_frame_offsets_rejects_step_and_rate_together_and_bad_values() -> None:
    with pytest.raises(ValueError, match="frame_step or target_fps, not both"):
        frame_offsets(4, frame_step=2, fps=30.0, target_fps=15.0)
    with pytest.raises(ValueError, match="frame_step must be >= 1"):
        frame_offsets(4, frame_step=0)
    with pytest.raises(ValueError, match="needs the video's frame rate"):
        frame_offsets(4, target_fps=15.0)
    with pytest.raises(ValueError, match="frames must be >= 1"):
        frame_offsets(0)


def test_start_defaults_to_the_first_frame() -> None:
    plan = plan_clip(100, frame_offsets(4, frame_step=2))
    assert plan.start == 0 and plan.indices.tolist() == [0, 2, 4, 6] and plan.n_padded == 0


def test_start_frame_is_used_as_given() -> None:
    plan = plan_clip(100, frame_offsets(3), start_frame=40)
    assert plan.indices.tolist() == [40, 41, 42]


def test_start_frame_past_the_end_is_an_item_error() -> None:
    with pytest.raises(ValueError, match="start_frame 100 is past the last frame"):
        plan_clip(100, frame_offsets(3), start_frame=100)


@pytest.mark.parametrize(
    ("fraction", "start"),
    [(0.0, 0), (0.5, 45), (1.0, 90), (0.25, 23)],  # room = 100 - 1 - 9 = 90; 22.5 rounds up
)
def test_start_fraction_places_the_clip_in_the_room_the_video_leaves(fraction: float, start: int) -> None:
    plan = plan_clip(100, frame_offsets(4, frame_step=3), start_fraction=fraction)
    assert plan.start == start
    assert plan.indices.tolist() == [start, start + 3, start + 6, start + 9]
    assert plan.indices.max() <= 99 and plan.n_padded == 0  # 1.0 is the last clip that still fits


def test_short_video_is_padded_with_its_last_frame() -> None:
    plan = plan_clip(5, frame_offsets(8))
    assert plan.indices.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert plan.n_padded == 3
    # with a step, frames past the end become the video's last frame (4), not the last sampled one
    plan = plan_clip(5, frame_offsets(4, frame_step=3))
    assert plan.indices.tolist() == [0, 3, 4, 4] and plan.n_padded == 2


def test_start_fraction_on_a_video_shorter_than_the_clip_starts_at_zero_and_pads() -> None:
    plan = plan_clip(3, frame_offsets(4), start_fraction=0.5)
    assert plan.start == 0 and plan.indices.tolist() == [0, 1, 2, 2] and plan.n_padded == 1


def test_start_frame_near_the_end_is_padded() -> None:
    plan = plan_clip(10, frame_offsets(4), start_frame=8)
    assert plan.indices.tolist() == [8, 9, 9, 9] and plan.n_padded == 2


def test_a_video_without_frames_is_an_item_error() -> None:
    with pytest.raises(ValueError, match="no decoded frames"):
        plan_clip(0, frame_offsets(2))
