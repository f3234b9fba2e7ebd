"""Model batches of the training loop: uint8 clips read ahead, float work (blur, normalisation) on the device.

A step's batch is built in two halves (docs/performance.md "Feeding the GPU"):

- :class:`StepJob` / :class:`ReadClips`: what loader workers do (``datasets.loader.BatchLoader``):
  read this rank's uint8 clips of the step from the clip cache. Nothing random happens here, so the
  worker count cannot change a batch.
- :func:`device_batch`: what the training loop does once the uint8 clips are on the training device:
  the blur curriculum (σ per clip from :func:`blur_sigmas`, a per-step generator) on float [0, 1]
  pixels, then the normalisation ``(x / 255 - 0.5) / 0.25``. On CPU the device is the CPU: one code
  path, the same operations in the same order as before the loader existed (bit-identical).

:func:`make_batch` composes the two in the calling thread (the reference the tests and
``benchmarks/data_path.py`` use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from devcurriculum.curriculum.blur import BlurSchedule, apply_blur
from devcurriculum.datasets.clip_dataset import PIXEL_MEAN, PIXEL_STD, to_model_batch

#: stream id of the per-step blur generator (see :func:`step_seed`)
BLUR_STREAM = 0xB1


class ClipSource(Protocol):
    """The clip cache (``devcurriculum.datasets.clip_dataset.ClipCache``): uint8 ``(B, T, H, W, 3)`` by index."""

    def get(self, indices: Sequence[int]) -> np.ndarray: ...


def step_seed(seed: int, step: int, stream: int) -> int:
    """A per-step seed independent of how many steps ran in this process (so resumes need no state)."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0])


@dataclass(frozen=True)
class StepJob:
    """One step's read: this rank's global clip indices (drawn by the sampler in the main process)."""

    step: int
    indices: tuple[int, ...]

    def __str__(self) -> str:
        shown = ", ".join(str(i) for i in self.indices[:8]) + (", ..." if len(self.indices) > 8 else "")
        return f"step {self.step} (clips [{shown}])"


class ReadClips:
    """``job -> clip_cache.get(job.indices)``: the loader workers' read (a class, so processes can take it)."""

    def __init__(self, clip_cache: ClipSource) -> None:
        self.clip_cache = clip_cache

    def __call__(self, job: StepJob) -> np.ndarray:
        return self.clip_cache.get(list(job.indices))


def blur_sigmas(
    blur: BlurSchedule | None, step: int, *, seed: int, rank: int, world_size: int, per_rank: int
) -> torch.Tensor | None:
    """This rank's per-clip blur σ at ``step`` (float64, on the CPU), or None when nothing is blurred.

    σ are drawn for the whole global batch from a per-step generator and this rank takes its slice,
    so 1 process and N processes blur the same clips the same way, and a resumed run needs no blur
    RNG state.
    """
    state = blur.at(step) if blur is not None else None
    if blur is None or state is None or state.sigma <= 0 or state.prob <= 0:
        return None
    gen = torch.Generator().manual_seed(step_seed(seed, step, BLUR_STREAM))
    return blur.sample(step, per_rank * world_size, gen)[rank * per_rank : (rank + 1) * per_rank]


def device_batch(
    clips: torch.Tensor,
    device: torch.device,
    sigmas: torch.Tensor | None = None,
    kernel_size: int | None = None,
) -> torch.Tensor:
    """uint8 clips ``(B, T, H, W, 3)`` -> the normalised float ``(B, T, C, H, W)`` model batch on ``device``.

    The uint8 tensor is copied to ``device`` first (non-blocking: from pinned memory on CUDA the copy
    overlaps the host's work), then, with ``sigmas``, blurred on float [0, 1] pixels before
    normalisation (docs/architecture.md), all on ``device``.
    """
    x = clips.to(device, non_blocking=True)
    if sigmas is None:
        return to_model_batch(x)
    x = x.permute(0, 1, 4, 2, 3).to(torch.float32) / 255.0
    x = apply_blur(x, sigmas, kernel_size=kernel_size)
    return ((x - PIXEL_MEAN) / PIXEL_STD).contiguous()


def make_batch(
    clip_cache: ClipSource,
    indices: Sequence[int],
    step: int,
    *,
    blur: BlurSchedule | None,
    seed: int,
    rank: int,
    world_size: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Read this rank's uint8 clips and return the normalised float ``(B, T, C, H, W)`` model batch.

    The synchronous composition of what the loop does per step: :class:`ReadClips`, then
    :func:`device_batch` with :func:`blur_sigmas` on ``device``.
    """
    clips = torch.from_numpy(np.ascontiguousarray(ReadClips(clip_cache)(StepJob(step, tuple(indices)))))
    sigmas = blur_sigmas(blur, step, seed=seed, rank=rank, world_size=world_size, per_rank=len(indices))
    kernel = blur.kernel_size if blur is not None else None
    return device_batch(clips, torch.device(device), sigmas, kernel)
