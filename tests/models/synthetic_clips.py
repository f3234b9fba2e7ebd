"""Synthetic clips the objective tests learn from: something that moves, cheap to make, seeded."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def moving_squares(batch: int, frames: int, size: int, seed: int) -> torch.Tensor:
    """Normalised clips (B, T, 3, size, size): a coloured square sliding over a smooth static background."""
    gen = torch.Generator().manual_seed(seed)
    background = F.interpolate(torch.rand(batch, 3, 4, 4, generator=gen), size=(size, size), mode="bilinear")
    clips = background[:, None].repeat(1, frames, 1, 1, 1)
    side = size // 3
    for b in range(batch):
        colour = torch.rand(3, generator=gen)
        x0, y0 = (int(v) for v in torch.randint(0, size - side, (2,), generator=gen))
        vx, vy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
        for t in range(frames):
            x = min(max(x0 + vx * t, 0), size - side)
            y = min(max(y0 + vy * t, 0), size - side)
            clips[b, t, :, y : y + side, x : x + side] = colour[:, None, None]
    return (clips - 0.5) / 0.25
