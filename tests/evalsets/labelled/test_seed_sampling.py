"""The seed study's benchmark sampling policies against transcriptions of its loaders.

Each ``reference_*`` function below restates, step by step, what the reference code does
(ssheybani/baby-vision-curriculum ``benchmarks/dsdatasets.py`` and torchvision's ``VideoClips``, as
written up in docs/algorithms.md §A "Benchmark sampling"), on a video whose frames are the numbers
0..n-1: the list manipulations of the SSv2 loader, the sequential OpenCV reads of the ToyBox loader,
torchvision's resampling and ``unfold`` for UCF-101. They are kept apart from the implementation
(closed forms in ``sampling.py``) so that the two can disagree.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from devcurriculum.evalsets.labelled.sampling import (
    SEED_POLICIES,
    seed_clip_indices,
    seed_clip_plans,
    seed_frame_indices,
    seed_source_step,
)

# ---- transcriptions of the reference ---------------------------------------------------------------


def reference_ssv2(n: int, frame_rate: float, sample_len: int) -> list[int]:
    """``SSv2Dataset.get_frames`` on a folder of n frames named 0..n-1 (``fps = 12`` hard-coded)."""
    framefn_list = list(range(n))
    fps = 12
    ds_rate = round(fps / frame_rate)
    num_frames = len(framefn_list)
    loc_idx = num_frames // 4
    slen = sample_len
    step = ds_rate
    if num_frames // step < slen:
        last_item = framefn_list[-1]
        while (len(framefn_list) // step) < slen:
            framefn_list.append(last_item)
        return framefn_list[::step][:slen]
    elif (num_frames - loc_idx) // step < slen:
        return framefn_list[::step][:slen]
    else:
        return framefn_list[loc_idx : loc_idx + slen * step : step][:slen]


class FakeCapture:
    """An OpenCV ``VideoCapture`` of n frames whose pixels are their own index."""

    def __init__(self, n: int) -> None:
        self.n, self.pos = n, 0

    def set_pos_frames(self, pos: int) -> None:
        self.pos = pos

    def read(self) -> tuple[bool, int | None]:
        if self.pos >= self.n:
            return False, None
        self.pos += 1
        return True, self.pos - 1


def reference_toybox(n: int, fps: float, frame_rate: float, sample_len: int) -> list[int]:
    """``ToyboxDataset.__getitem__`` reading with OpenCV (frame count = n)."""
    cap = FakeCapture(n)
    ds_rate = round(fps / frame_rate)
    num_frames = n
    sample_scope = sample_len * ds_rate
    if num_frames < sample_scope:  # get_all_frames
        frames: list[int] = []
        while True:
            ret, frame = cap.read()
            if not ret:
                break
            frames.append(frame)  # type: ignore[arg-type]
            if len(frames) == sample_len:
                break
        for _ in range(sample_len - len(frames)):
            frames.append(frames[-1])
        return frames
    start_frame = int(num_frames * 1 / 5)
    if (num_frames - start_frame) < sample_scope:
        start_frame = num_frames - sample_scope
    frame_count = 0
    cap.set_pos_frames(start_frame)
    frames = []
    while True:
        ret, frame = cap.read()
        if not ret:
            break
        if frame_count % ds_rate == 0:
            frames.append(frame)  # type: ignore[arg-type]
        if len(frames) == sample_len:
            break
        frame_count += 1
    return frames


def reference_ucf101(n: int, fps: float, frame_rate: float, frames_per_clip: int) -> list[list[int]]:
    """torchvision ``VideoClips.compute_clips_for_video`` + ``get_clip`` with ``step_between_clips=300``."""
    import torch

    step_between_clips = 300
    video_pts = torch.arange(n)  # the decoded frames' timestamps, in frame units
    total_frames = len(video_pts) * frame_rate / fps
    num_frames = int(math.floor(total_frames))  # noqa: RUF046 (as torchvision writes it)
    step = fps / frame_rate
    if step.is_integer():
        idxs: slice | torch.Tensor = slice(None, None, int(step))
    else:
        idxs = (torch.arange(num_frames, dtype=torch.float32) * step).floor().to(torch.int64)
    resampled = video_pts[idxs]
    numel = resampled.numel()
    n_clips = (numel - (frames_per_clip - 1 + 1)) // step_between_clips + 1  # torchvision's unfold
    n_clips = max(n_clips, 0)
    return [resampled[c * step_between_clips : c * step_between_clips + frames_per_clip].tolist()
            for c in range(n_clips)]


# ---- the grid ----------------------------------------------------------------------------------------

LENGTHS = [*range(1, 130), 131, 150, 192, 200, 241, 300, 301, 397, 599, 600, 601]


@pytest.mark.parametrize("frames", [1, 2, 4, 16])
@pytest.mark.parametrize("frame_rate", [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 7.5])
def test_ssv2_policy_equals_the_reference(frames: int, frame_rate: float) -> None:
    for n in LENGTHS:
        expected = reference_ssv2(n, frame_rate, frames)
        assert seed_frame_indices("ssv2_2023", n_frames=n, fps=None, frames=frames, frame_rate=frame_rate) == expected, n
        # the video's own rate is ignored: the reference assumes 12 fps
        assert seed_frame_indices("ssv2_2023", n_frames=n, fps=30.0, frames=frames, frame_rate=frame_rate) == expected


@pytest.mark.parametrize("frames", [1, 2, 16])
@pytest.mark.parametrize("fps", [30.0, 29.97, 25.0, 15.0, 60.0])
@pytest.mark.parametrize("frame_rate", [1, 2, 5, 10, 3.7])
def test_toybox_policy_equals_the_reference(frames: int, fps: float, frame_rate: float) -> None:
    lengths = [*LENGTHS, 959, 960, 961, 1000, 1919, 1920]
    for n in lengths:
        expected = reference_toybox(n, fps, frame_rate, frames)
        got = seed_frame_indices("toybox_2023", n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate)
        assert got == expected, (n, got, expected)


@pytest.mark.parametrize("frames", [1, 2, 16])
@pytest.mark.parametrize("fps", [25.0, 29.97002997002997, 30.0, 24.0, 12.5])
@pytest.mark.parametrize("frame_rate", [1, 3, 5, 10, 25, 30])
def test_ucf101_policy_equals_the_reference(frames: int, fps: float, frame_rate: float) -> None:
    lengths = [*range(1, 80), 120, 300, 301, 999, 1000, 2600, 3001, 7001]
    for n in lengths:
        expected = reference_ucf101(n, fps, frame_rate, frames)
        assert seed_clip_indices("ucf101_2023", n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate) == expected
        first = seed_frame_indices("ucf101_2023", n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate)
        assert first == (expected[0] if expected else [])


@pytest.mark.parametrize(("fps", "frame_rate", "frames"), [(25.0, 10, 16), (29.97002997002997, 10, 16),
                                                           (25.0, 3, 2), (30.0, 10, 16), (25.0, 5, 16), (30.0, 7, 4)])
def test_ucf101_policy_equals_torchvisions_own_clip_sampler(fps: float, frame_rate: int, frames: int) -> None:
    torch = pytest.importorskip("torch")
    video_utils = pytest.importorskip("torchvision.datasets.video_utils")
    for n in (15, 16, 39, 40, 300, 301, 1000, 2600, 9001):
        with warnings.catch_warnings():  # torchvision warns about a video too short for a clip
            warnings.simplefilter("ignore", UserWarning)
            clips, _ = video_utils.VideoClips.compute_clips_for_video(torch.arange(n), frames, 300, fps, frame_rate)
        got = seed_clip_indices("ucf101_2023", n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate)
        assert got == clips.tolist(), n  # the clips' timestamps are the source frames (pts = 0..n-1)


# ---- the worked examples of the write-up (docs/algorithms.md §A), as literal values ---------------------


@pytest.mark.parametrize(
    ("frames", "frame_rate", "n", "expected"),
    [
        (16, 6, 30, [*range(0, 29, 2), 29]),  # case A: i = 15 -> min(30, 29)
        (16, 6, 31, list(range(0, 31, 2))),  # case A, no padding needed
        (16, 6, 32, list(range(0, 31, 2))),  # case B
        (16, 6, 40, list(range(0, 31, 2))),  # case B
        (16, 6, 42, list(range(10, 41, 2))),  # case C: from 42 // 4
        (16, 6, 48, list(range(12, 43, 2))),
        (16, 6, 5, [0, 2, 4] + [4] * 13),
        (16, 6, 1, [0] * 16),
        (2, 1, 5, [0, 4]),
        (2, 1, 30, [0, 12]),
        (2, 1, 31, [7, 19]),
        (2, 1, 48, [12, 24]),
        (1, 6, 5, [1]),
        (1, 6, 30, [7]),
        (1, 6, 48, [12]),
    ],
)
def test_ssv2_worked_examples(frames: int, frame_rate: int, n: int, expected: list[int]) -> None:
    assert seed_frame_indices("ssv2_2023", n_frames=n, fps=None, frames=frames, frame_rate=frame_rate) == expected


@pytest.mark.parametrize(
    ("frames", "frame_rate", "n", "expected"),
    [
        (16, 5, 50, list(range(16))),  # shorter than the scope 96: consecutive frames
        (16, 5, 10, [*range(10), 9, 9, 9, 9, 9, 9]),
        (16, 5, 96, list(range(0, 91, 6))),  # start 19 would not fit: 96 - 96 = 0
        (16, 5, 100, list(range(4, 95, 6))),
        (16, 5, 120, list(range(24, 115, 6))),
        (16, 5, 300, list(range(60, 151, 6))),
        (2, 2, 10, [0, 1]),
        (2, 2, 50, [10, 25]),
        (2, 2, 300, [60, 75]),
    ],
)
def test_toybox_worked_examples_at_30_fps(frames: int, frame_rate: int, n: int, expected: list[int]) -> None:
    assert seed_frame_indices("toybox_2023", n_frames=n, fps=30.0, frames=frames, frame_rate=frame_rate) == expected


FIRST_10FPS_CLIP = [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37]


@pytest.mark.parametrize(
    ("n", "fps", "frames", "frame_rate", "expected"),
    [
        (300, 25.0, 16, 10, [FIRST_10FPS_CLIP]),
        (1000, 25.0, 16, 10, [FIRST_10FPS_CLIP, [750 + i for i in FIRST_10FPS_CLIP]]),
        (39, 25.0, 16, 10, []),  # 15 resampled frames: no clip
        (40, 25.0, 16, 10, [FIRST_10FPS_CLIP]),
        (300, 29.97003, 16, 10, [[0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41, 44]]),
        (301, 30.0, 16, 10, [list(range(0, 46, 3))]),  # whole step 3: 101 resampled frames
        (300, 25.0, 2, 3, [[0, 8]]),
        (2600, 25.0, 2, 3, [[0, 8], [2500, 2508]]),
        (300, 25.0, 16, 5, [list(range(0, 76, 5))]),
        (300, 29.97003, 2, 3, [[0, 9]]),
    ],
)
def test_ucf101_worked_examples(n: int, fps: float, frames: int, frame_rate: int, expected: list[list[int]]) -> None:
    assert seed_clip_indices("ucf101_2023", n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate) == expected


def test_ucf101_index_math_is_float32_as_torch() -> None:
    # 25 -> 3 fps, resampled frame 15: float32 gives floor(124.999995) = 124, exact arithmetic 125
    got = seed_frame_indices("ucf101_2023", n_frames=300, fps=25.0, frames=16, frame_rate=3)
    assert got[15] == 124 and math.floor(15 * (25.0 / 3)) == 125


def test_a_seed_clip_records_its_start_and_padding() -> None:
    (plan,) = seed_clip_plans("ssv2_2023", n_frames=5, fps=None, frames=16, frame_rate=6)
    assert plan.start == 0 and plan.n_padded == 13  # 2*i > 4 for i = 3..15
    (plan,) = seed_clip_plans("toybox_2023", n_frames=10, fps=30.0, frames=16, frame_rate=5)
    assert plan.n_padded == 6 and plan.indices.dtype == np.int64
    (plan,) = seed_clip_plans("toybox_2023", n_frames=100, fps=30.0, frames=16, frame_rate=5)
    assert plan.start == 4 and plan.n_padded == 0


@pytest.mark.parametrize(
    ("policy", "n", "fps", "frames", "frame_rate", "step"),
    [
        ("ssv2_2023", 48, 30.0, 16, 6, 2.0),  # 12 / 6, whatever the video's rate
        ("toybox_2023", 300, 30.0, 16, 5, 6.0),
        ("toybox_2023", 50, 30.0, 16, 5, 1.0),  # shorter than the scope: consecutive frames
        ("ucf101_2023", 300, 25.0, 16, 10, 2.5),
    ],
)
def test_seed_source_step(policy: str, n: int, fps: float, frames: int, frame_rate: int, step: float) -> None:
    assert seed_source_step(policy, n_frames=n, fps=fps, frames=frames, frame_rate=frame_rate) == step


def test_bad_arguments_name_the_problem() -> None:
    assert SEED_POLICIES == ("ssv2_2023", "toybox_2023", "ucf101_2023")
    with pytest.raises(ValueError, match="unknown sampling policy 'ssv2'"):
        seed_frame_indices("ssv2", n_frames=10, fps=None, frames=2, frame_rate=1)
    with pytest.raises(ValueError, match="no decoded frames"):
        seed_frame_indices("ssv2_2023", n_frames=0, fps=None, frames=2, frame_rate=1)
    with pytest.raises(ValueError, match=r"round\(12/24\) = 0 \(the reference divides by zero\)"):
        seed_frame_indices("ssv2_2023", n_frames=10, fps=None, frames=2, frame_rate=24)
    with pytest.raises(ZeroDivisionError):  # round(0.5) = 0: the reference fails too, less clearly
        reference_ssv2(10, 24, 2)
    with pytest.raises(ValueError, match=r"round\(30/61\) = 0"):
        seed_frame_indices("toybox_2023", n_frames=10, fps=30.0, frames=2, frame_rate=61)
    with pytest.raises(ValueError, match="toybox_2023 needs the video's frame rate"):
        seed_frame_indices("toybox_2023", n_frames=10, fps=None, frames=2, frame_rate=1)
    with pytest.raises(ValueError, match="frame_rate must be > 0"):
        seed_frame_indices("ucf101_2023", n_frames=10, fps=25.0, frames=2, frame_rate=0)
