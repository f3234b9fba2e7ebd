"""V-JEPA context / target block masks (ALGORITHMS §A).

The token grid is ``(grid_t, grid_h, grid_w)`` (temporal slices x patch rows x patch columns), tokens
numbered ``t * grid_h * grid_w + h * grid_w + w`` like the ``Conv3d`` patch embedding of
``transformers``' VJEPA2. The temporal slices are split into an *earlier* half (``t < grid_t // 2``)
and a *later* half (the rest):

- context: one spatial block with scale ``U(context_scale)`` of the frame and aspect 1, repeated over
  every earlier slice;
- targets: ``n_targets`` spatial blocks with scale ``U(target_scale)`` and aspect ``U(target_aspect)``
  (height / width), each repeated over every later slice; the target set is their union;
- the context loses any token that is also a target (by construction the halves never share a token,
  but the rule is enforced rather than assumed) and must keep at least ``min_keep`` tokens, otherwise
  the draw is repeated.

With frame pairs (V-JEPA's "frame 0 and a frame ``gap`` later") the grid has two slices: the context
lives on the first frame and the targets on the second.

Samples of one batch get different numbers of tokens; :func:`collate_masks` subsamples every sample to
the batch minimum (uniformly at random, not the first tokens, so no corner of the block is favoured) so
the masks stack into dense index tensors, as I-JEPA's collator does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from devcurriculum.config import MultiblockMaskConfig

MAX_TRIES = 50


@dataclass
class Block:
    """One spatial block: top-left ``(top, left)``, size ``(height, width)``, and the drawn scale/aspect."""

    top: int
    left: int
    height: int
    width: int
    scale: float
    aspect: float


@dataclass
class SampleMask:
    """The masks of one sample: sorted token indices plus the blocks they came from."""

    context: torch.Tensor
    target: torch.Tensor
    context_block: Block
    target_blocks: list[Block] = field(default_factory=list)


def block_size(scale: float, aspect: float, grid_h: int, grid_w: int) -> tuple[int, int]:
    """Block ``(height, width)`` covering ``scale`` of a ``grid_h x grid_w`` frame at ``aspect = h / w``.

    ``h = round(sqrt(scale * area * aspect))``, ``w = round(sqrt(scale * area / aspect))``, each clamped to
    ``[1, grid]``; so on a tiny grid the realised area is the nearest block the grid allows.
    """
    area = scale * grid_h * grid_w
    h = round(math.sqrt(area * aspect))
    w = round(math.sqrt(area / aspect))
    return min(max(h, 1), grid_h), min(max(w, 1), grid_w)


def _uniform(bounds: tuple[float, float], generator: torch.Generator) -> float:
    lo, hi = bounds
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _draw_block(
    scale_range: tuple[float, float], aspect_range: tuple[float, float], grid_h: int, grid_w: int,
    generator: torch.Generator,
) -> Block:
    scale = _uniform(scale_range, generator)
    aspect = _uniform(aspect_range, generator)
    h, w = block_size(scale, aspect, grid_h, grid_w)
    top = int(torch.randint(0, grid_h - h + 1, (), generator=generator))
    left = int(torch.randint(0, grid_w - w + 1, (), generator=generator))
    return Block(top, left, h, w, scale, aspect)


def _tokens(block: Block, slices: range, grid_h: int, grid_w: int) -> torch.Tensor:
    """Token indices of ``block`` repeated over the temporal ``slices``."""
    rows = torch.arange(block.top, block.top + block.height)
    cols = torch.arange(block.left, block.left + block.width)
    spatial = (rows[:, None] * grid_w + cols[None, :]).reshape(-1)
    per_slice = grid_h * grid_w
    return torch.cat([spatial + t * per_slice for t in slices])


def split_slices(grid_t: int) -> tuple[range, range]:
    """Earlier and later temporal slices: ``[0, grid_t // 2)`` and ``[grid_t // 2, grid_t)``."""
    if grid_t < 2:
        raise ValueError(
            f"multiblock masks need at least 2 temporal slices (an earlier and a later one), got {grid_t}; "
            "use more clip frames or a smaller tubelet_size"
        )
    half = grid_t // 2
    return range(0, half), range(half, grid_t)


def sample_mask(
    grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> SampleMask:
    """Draw one sample's context and target tokens (see the module docstring for the rules)."""
    earlier, later = split_slices(grid_t)
    for _ in range(MAX_TRIES):
        context_block = _draw_block(cfg.context_scale, (1.0, 1.0), grid_h, grid_w, generator)
        target_blocks = [
            _draw_block(cfg.target_scale, cfg.target_aspect, grid_h, grid_w, generator) for _ in range(cfg.n_targets)
        ]
        target = torch.unique(torch.cat([_tokens(b, later, grid_h, grid_w) for b in target_blocks]))
        context = _tokens(context_block, earlier, grid_h, grid_w)
        context = torch.unique(context[~torch.isin(context, target)])
        if context.numel() >= cfg.min_keep:
            return SampleMask(context, target, context_block, target_blocks)
    raise ValueError(
        f"could not draw a context of at least masks.min_keep={cfg.min_keep} tokens in {MAX_TRIES} tries on a "
        f"{grid_t}x{grid_h}x{grid_w} token grid with masks.context_scale={list(cfg.context_scale)}; "
        "lower min_keep or raise context_scale"
    )


def _subsample(indices: torch.Tensor, keep: int, generator: torch.Generator) -> torch.Tensor:
    if indices.numel() == keep:
        return indices
    chosen = torch.randperm(indices.numel(), generator=generator)[:keep]
    return indices[chosen].sort().values


def collate_masks(masks: Sequence[SampleMask], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense ``(B, K_context)`` and ``(B, K_target)`` int64 index tensors (sorted per row).

    Every sample is subsampled at random to the batch minimum of each kind, so all rows have equal length.
    """
    if not masks:
        raise ValueError("collate_masks needs at least one sample mask")
    keep_ctx = min(m.context.numel() for m in masks)
    keep_tgt = min(m.target.numel() for m in masks)
    context = torch.stack([_subsample(m.context, keep_ctx, generator) for m in masks])
    target = torch.stack([_subsample(m.target, keep_tgt, generator) for m in masks])
    return context.long(), target.long()


def multiblock_masks(
    batch_size: int, grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Context and target index tensors for a batch (:func:`sample_mask` per sample, then :func:`collate_masks`)."""
    samples = [sample_mask(grid_t, grid_h, grid_w, cfg, generator) for _ in range(batch_size)]
    return collate_masks(samples, generator)
