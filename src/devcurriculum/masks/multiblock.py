"""V-JEPA context / target block masks (docs/algorithms.md §A, "V-JEPA"), three kinds (``models.<v>.masks.kind``).

The token grid is ``(grid_t, grid_h, grid_w)`` (temporal slices x patch rows x patch columns), tokens
numbered ``t * grid_h * grid_w + h * grid_w + w`` like the ``Conv3d`` patch embedding of
``transformers``' VJEPA2. A *spatial position* is ``h * grid_w + w``; the same position in every slice
is one "tube".

``seed_2frame`` (the seed study's I-JEPA-style masks on a frame pair). The temporal slices are split
into an *earlier* half (``t < grid_t // 2``) and a *later* half (the rest):

- targets: ``n_targets`` spatial blocks with scale ``U(target_scale)`` and aspect ``U(target_aspect)``
  (height / width), each repeated over every later slice; the target set is their union;
- context: one spatial block with scale ``U(context_scale)`` and aspect 1 over every earlier slice,
  *minus every spatial position of a target* (the reference's ``allow_overlap=False``: without it the
  context frame shows what sits at each target position, and on slow video the task is "copy the same
  place"). A context of fewer than ``min_keep`` tokens is drawn again.

``multiblock3d`` (facebookresearch/jepa's ``multiblock3d``). Every entry of ``blocks3d`` is its own
mask set: a block size (scale ``U(scale)``, aspect ``U(aspect)``) is drawn once per batch and set, then
``n_blocks`` blocks of that size are placed per sample; the target is their union through *all* slices
and the context is the complement (every other position, every slice). A context of fewer than
``min_keep`` tokens is drawn again.

``future`` (predict the later half from the earlier one, the task the violation-of-expectation surprise
reads, ``eval/surprise.py``): the context is every token of the earlier slices, the target every
token of the later slices. Nothing is random; a mover's later position is not in the context, so the
task needs where things go, not only where they are.

Per target block (``masks.predictor: per_target``, the seed study's predictor): :func:`per_target_masks`
draws the same ``seed_2frame`` masks and keeps every target block apart, its own positions through the
later slices (blocks may overlap each other), for one predictor pass per block with the context repeated.

How the seed study's own mask collator differs, and what we do instead (docs/algorithms.md §A, V-JEPA):
its context block is always the top-left 13 x 13 of the 14 x 14 grid (we place it at random); one
uniform draw sets both scale and aspect of a block (we draw them independently); a target never
reaches the last row or column (ours can); block sizes are drawn once per batch (ours per block and
sample); contexts are cut to the batch minimum by keeping the first tokens in row-major order (we
subsample at random).

A block of area fraction ``s`` and aspect ``a`` is :func:`block_size`. Samples of one batch get
different numbers of tokens; :func:`collate_masks` subsamples every sample to the batch minimum
(uniformly at random, not the first tokens, so no corner of the block is favoured) so the masks stack
into dense index tensors, as the reference collators do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from devcurriculum.config import MultiblockMaskConfig, TubeBlocksConfig

MAX_TRIES = 50

#: one mask set of a batch: context and target token indices, each ``(B, K)`` int64, sorted per row
MaskPair = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Block:
    """One spatial block: top-left ``(top, left)``, size ``(height, width)``, and the drawn scale/aspect."""

    top: int
    left: int
    height: int
    width: int
    scale: float
    aspect: float

    def positions(self, grid_w: int) -> torch.Tensor:
        """The block's spatial positions ``h * grid_w + w`` (row-major)."""
        rows = torch.arange(self.top, self.top + self.height)
        cols = torch.arange(self.left, self.left + self.width)
        return (rows[:, None] * grid_w + cols[None, :]).reshape(-1)


@dataclass
class SampleMask:
    """The masks of one sample: sorted token indices plus the blocks they came from.

    ``context_block`` is the seed study's context block (None for ``multiblock3d``, whose context is a
    complement).
    """

    context: torch.Tensor
    target: torch.Tensor
    context_block: Block | None
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


@dataclass(frozen=True)
class BlockSize:
    """A drawn block size: ``(height, width)`` in patches and the scale / aspect it came from."""

    height: int
    width: int
    scale: float
    aspect: float


def _draw_size(
    scale_range: tuple[float, float], aspect_range: tuple[float, float], grid_h: int, grid_w: int,
    generator: torch.Generator,
) -> BlockSize:
    scale = _uniform(scale_range, generator)
    aspect = _uniform(aspect_range, generator)
    return BlockSize(*block_size(scale, aspect, grid_h, grid_w), scale, aspect)


def _place(size: BlockSize, grid_h: int, grid_w: int, generator: torch.Generator) -> Block:
    top = int(torch.randint(0, grid_h - size.height + 1, (), generator=generator))
    left = int(torch.randint(0, grid_w - size.width + 1, (), generator=generator))
    return Block(top, left, size.height, size.width, size.scale, size.aspect)


def _draw_block(
    scale_range: tuple[float, float], aspect_range: tuple[float, float], grid_h: int, grid_w: int,
    generator: torch.Generator,
) -> Block:
    return _place(_draw_size(scale_range, aspect_range, grid_h, grid_w, generator), grid_h, grid_w, generator)


def _through(positions: torch.Tensor, slices: range, per_slice: int) -> torch.Tensor:
    """Token indices of the spatial ``positions`` in every one of the temporal ``slices`` (sorted)."""
    return torch.cat([positions + t * per_slice for t in slices]).sort().values


def _union(blocks: Sequence[Block], grid_w: int) -> torch.Tensor:
    return torch.unique(torch.cat([b.positions(grid_w) for b in blocks]))


def split_slices(grid_t: int) -> tuple[range, range]:
    """Earlier and later temporal slices: ``[0, grid_t // 2)`` and ``[grid_t // 2, grid_t)``."""
    if grid_t < 2:
        raise ValueError(
            f"multiblock masks need at least 2 temporal slices (an earlier and a later one), got {grid_t}; "
            "use more clip frames or a smaller tubelet_size"
        )
    half = grid_t // 2
    return range(0, half), range(half, grid_t)


def _min_keep_error(cfg: MultiblockMaskConfig, grid: tuple[int, int, int], what: str) -> ValueError:
    return ValueError(
        f"could not draw a context of at least masks.min_keep={cfg.min_keep} tokens in {MAX_TRIES} tries on a "
        f"{grid[0]}x{grid[1]}x{grid[2]} token grid with {what}; lower min_keep or shrink the targets"
    )


def sample_mask(
    grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> SampleMask:
    """One sample's ``seed_2frame`` context and target tokens (see the module docstring for the rules)."""
    earlier, later = split_slices(grid_t)
    per_slice = grid_h * grid_w
    for _ in range(MAX_TRIES):
        context_block = _draw_block(cfg.context_scale, (1.0, 1.0), grid_h, grid_w, generator)
        target_blocks = [
            _draw_block(cfg.target_scale, cfg.target_aspect, grid_h, grid_w, generator) for _ in range(cfg.n_targets)
        ]
        hidden = _union(target_blocks, grid_w)
        visible = context_block.positions(grid_w)
        visible = visible[~torch.isin(visible, hidden)]
        if visible.numel() * len(earlier) >= cfg.min_keep:
            context = _through(visible, earlier, per_slice)
            return SampleMask(context, _through(hidden, later, per_slice), context_block, target_blocks)
    raise _min_keep_error(
        cfg, (grid_t, grid_h, grid_w),
        f"masks.context_scale={list(cfg.context_scale)} minus {cfg.n_targets} targets of masks.target_scale="
        f"{list(cfg.target_scale)}",
    )


def sample_tube_mask(
    grid_t: int, grid_h: int, grid_w: int, size: BlockSize, blocks: TubeBlocksConfig, cfg: MultiblockMaskConfig,
    generator: torch.Generator,
) -> SampleMask:
    """One sample of a ``multiblock3d`` mask set: ``n_blocks`` blocks of ``size`` through all slices."""
    per_slice = grid_h * grid_w
    every = range(grid_t)
    for _ in range(MAX_TRIES):
        target_blocks = [_place(size, grid_h, grid_w, generator) for _ in range(blocks.n_blocks)]
        hidden = _union(target_blocks, grid_w)
        visible = torch.arange(per_slice)
        visible = visible[~torch.isin(visible, hidden)]
        if visible.numel() * grid_t >= cfg.min_keep:
            return SampleMask(_through(visible, every, per_slice), _through(hidden, every, per_slice), None, target_blocks)
    raise _min_keep_error(
        cfg, (grid_t, grid_h, grid_w), f"{blocks.n_blocks} tube blocks of scale {size.scale:.3f} (masks.blocks3d)"
    )


def _subsample(indices: torch.Tensor, keep: int, generator: torch.Generator) -> torch.Tensor:
    if indices.numel() == keep:
        return indices
    chosen = torch.randperm(indices.numel(), generator=generator)[:keep]
    return indices[chosen].sort().values


def collate_masks(masks: Sequence[SampleMask], generator: torch.Generator) -> MaskPair:
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


def collate_per_target(
    masks: Sequence[SampleMask], grid_t: int, grid_h: int, grid_w: int, generator: torch.Generator
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The context ``(B, K_context)`` and one ``(B, K_k)`` target tensor per target block (int64, sorted per row).

    Block k's targets are its own spatial positions through the later slices (not the union's, so
    overlapping blocks share tokens); the context and each block are subsampled at random to their
    batch minimum, as :func:`collate_masks` does.
    """
    if not masks:
        raise ValueError("collate_per_target needs at least one sample mask")
    n_blocks = {len(m.target_blocks) for m in masks}
    if len(n_blocks) != 1 or 0 in n_blocks:
        raise ValueError("collate_per_target needs seed_2frame masks with the same number of target blocks per sample")
    _, later = split_slices(grid_t)
    per_slice = grid_h * grid_w
    keep_ctx = min(m.context.numel() for m in masks)
    context = torch.stack([_subsample(m.context, keep_ctx, generator) for m in masks]).long()
    targets = []
    for k in range(len(masks[0].target_blocks)):
        rows = [_through(m.target_blocks[k].positions(grid_w), later, per_slice) for m in masks]
        keep = min(r.numel() for r in rows)
        targets.append(torch.stack([_subsample(r, keep, generator) for r in rows]).long())
    return context, targets


def per_target_masks(
    batch_size: int, grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``seed_2frame`` masks of a batch for one predictor pass per target block (``masks.predictor: per_target``).

    The same draws as :func:`sample_masks` (the context still excludes every target's positions), then
    :func:`collate_per_target`: the context and ``cfg.n_targets`` target tensors.
    """
    if cfg.kind != "seed_2frame":
        raise ValueError(f"per_target masks need masks.kind seed_2frame, got {cfg.kind}")
    [samples] = sample_masks(batch_size, grid_t, grid_h, grid_w, cfg, generator)
    return collate_per_target(samples, grid_t, grid_h, grid_w, generator)


def future_mask(grid_t: int, grid_h: int, grid_w: int) -> SampleMask:
    """The ``future`` kind: context = every earlier-slice token, target = every later-slice token."""
    earlier, later = split_slices(grid_t)
    per_slice = grid_h * grid_w
    every = torch.arange(per_slice)
    return SampleMask(_through(every, earlier, per_slice), _through(every, later, per_slice), None)


def sample_masks(
    batch_size: int, grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> list[list[SampleMask]]:
    """Every mask set's per-sample masks: one set for ``seed_2frame`` and ``future``, one per ``blocks3d`` entry
    for ``multiblock3d``."""
    if cfg.kind == "seed_2frame":
        return [[sample_mask(grid_t, grid_h, grid_w, cfg, generator) for _ in range(batch_size)]]
    if cfg.kind == "future":
        return [[future_mask(grid_t, grid_h, grid_w) for _ in range(batch_size)]]
    sets = []
    for blocks in cfg.blocks3d:
        size = _draw_size(blocks.scale, blocks.aspect, grid_h, grid_w, generator)  # once per batch, as the reference
        sets.append([sample_tube_mask(grid_t, grid_h, grid_w, size, blocks, cfg, generator) for _ in range(batch_size)])
    return sets


def multiblock_masks(
    batch_size: int, grid_t: int, grid_h: int, grid_w: int, cfg: MultiblockMaskConfig, generator: torch.Generator
) -> list[MaskPair]:
    """Context and target index tensors of a batch, one pair per mask set (:func:`sample_masks`, collated)."""
    return [collate_masks(samples, generator) for samples in sample_masks(batch_size, grid_t, grid_h, grid_w, cfg, generator)]
