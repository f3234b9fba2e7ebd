"""Model batches of the training loop: clips read from the clip cache, blurred when the curriculum says so."""

from __future__ import annotations

from collections.abc import Sequence
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


def make_batch(
    clip_cache: ClipSource,
    indices: Sequence[int],
    step: int,
    *,
    blur: BlurSchedule | None,
    seed: int,
    rank: int,
    world_size: int,
) -> torch.Tensor:
    """Read this rank's uint8 clips and return the normalised float ``(B, T, C, H, W)`` model batch.

    When the blur curriculum is active at ``step`` the clips are blurred on float [0, 1] pixels
    before normalisation (docs/architecture.md). Blur σ are drawn for the whole global batch from a
    per-step generator and this rank takes its slice, so 1 process and N processes blur the same
    clips the same way, and a resumed run needs no blur RNG state.
    """
    clips = clip_cache.get(list(indices))
    state = blur.at(step) if blur is not None else None
    if blur is None or state is None or state.sigma <= 0 or state.prob <= 0:
        return to_model_batch(clips)
    per_rank = len(indices)
    gen = torch.Generator().manual_seed(step_seed(seed, step, BLUR_STREAM))
    sigmas = blur.sample(step, per_rank * world_size, gen)[rank * per_rank : (rank + 1) * per_rank]
    x = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 1, 4, 2, 3).to(torch.float32) / 255.0
    x = apply_blur(x, sigmas, kernel_size=blur.kernel_size)
    return ((x - PIXEL_MEAN) / PIXEL_STD).contiguous()
