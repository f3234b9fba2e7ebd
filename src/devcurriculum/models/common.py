"""What every objective of this package shares: the clip shape it accepts and its per-rank generator.

The objectives draw masks and augmentations from their own CPU ``torch.Generator``; the training loop
resumes them exactly because ``train/checkpoint.py`` saves and restores every generator attribute of
the objective.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from devcurriculum.config import ClipConfig
from devcurriculum.models.objective import Objective

RANK_SEED_STRIDE = 1000
#: the attention of the ViT learners: torch.nn.functional.scaled_dot_product_attention (fused / flash
#: kernels on GPU). transformers already picks it by default for VideoMAE and VJEPA2; naming it makes a
#: transformers version that would not (or an architecture without it) fail instead of falling back
#: to the eager attention (docs/performance.md "Attention kernels").
ATTENTION = "sdpa"


def current_rank() -> int:
    """This process's rank: the process group's if joined, else the launcher's environment, else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    from devcurriculum.utils.distributed import discover_rank

    return discover_rank().rank


def rank_generator() -> torch.Generator:
    """A CPU generator for masks/augmentations, different on every rank, reproducible from the caller's seed.

    The base seed is one draw from the global torch RNG (so ``torch.manual_seed`` before building the
    objective fixes it, identically on every rank), offset by ``RANK_SEED_STRIDE * rank`` so ranks draw
    different masks. Store it as a plain attribute of the objective so the checkpoint code finds it.
    """
    base = int(torch.randint(0, 2**31 - 1, ()).item())
    gen = torch.Generator()
    gen.manual_seed(base + RANK_SEED_STRIDE * current_rank())
    return gen


class ClipObjective(Objective):
    """An objective on clips of the shape ``data.clip`` gives: float ``(B, frames, 3, size, size)``."""

    def __init__(self, clip: ClipConfig) -> None:
        super().__init__()
        self.frames = clip.frames
        self.size = clip.size

    def check_batch(self, batch: torch.Tensor, frames: int | None = None) -> None:
        """Raise naming the objective when ``batch`` is not a batch of this objective's clips (or ``frames``-frame pairs)."""
        expected = (self.frames if frames is None else frames, 3, self.size, self.size)
        if batch.ndim != 5 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"{self.name} expects batches (B, {', '.join(map(str, expected))}), got {tuple(batch.shape)}")
