"""V-JEPA multiblock masks: block sizes, slices, no overlap, min_keep, batch collation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from devcurriculum.config import ConfigError, MultiblockMaskConfig
from devcurriculum.masks.multiblock import (
    block_size,
    collate_masks,
    multiblock_masks,
    sample_mask,
    split_slices,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ranges(lo_min: float, hi_max: float):
    return st.tuples(st.floats(lo_min, hi_max), st.floats(lo_min, hi_max)).map(lambda t: (min(t), max(t)))


@settings(max_examples=80, deadline=None)
@given(
    grid_t=st.integers(2, 6),
    grid_h=st.integers(3, 14),
    grid_w=st.integers(3, 14),
    context_scale=_ranges(0.5, 1.0),
    target_scale=_ranges(0.05, 0.3),
    target_aspect=_ranges(0.5, 2.0),
    n_targets=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_sample_mask_properties(grid_t, grid_h, grid_w, context_scale, target_scale, target_aspect, n_targets, seed):
    cfg = MultiblockMaskConfig(
        context_scale=context_scale, target_scale=target_scale, target_aspect=target_aspect, n_targets=n_targets, min_keep=1
    )
    m = sample_mask(grid_t, grid_h, grid_w, cfg, _gen(seed))
    per_slice = grid_h * grid_w
    earlier, later = split_slices(grid_t)

    # Context on the earlier slices, targets on the later ones, never the same token.
    assert set((m.context // per_slice).tolist()) <= set(earlier)
    assert set((m.target // per_slice).tolist()) <= set(later)
    assert not set(m.context.tolist()) & set(m.target.tolist())
    assert m.context.numel() >= cfg.min_keep
    assert torch.equal(m.context, m.context.sort().values)

    # Drawn scales/aspects inside their ranges; block sizes follow block_size; blocks fit the grid.
    cb = m.context_block
    assert context_scale[0] <= cb.scale <= context_scale[1] and cb.aspect == 1.0
    assert (cb.height, cb.width) == block_size(cb.scale, 1.0, grid_h, grid_w)
    assert len(m.target_blocks) == n_targets
    for b in m.target_blocks:
        assert target_scale[0] <= b.scale <= target_scale[1]
        assert target_aspect[0] <= b.aspect <= target_aspect[1]
        assert (b.height, b.width) == block_size(b.scale, b.aspect, grid_h, grid_w)
    for b in [cb, *m.target_blocks]:
        assert b.top >= 0 and b.top + b.height <= grid_h and b.left >= 0 and b.left + b.width <= grid_w

    # The target set is exactly the union of the target blocks over the later slices.
    expected = {
        t * per_slice + r * grid_w + c
        for b in m.target_blocks
        for t in later
        for r in range(b.top, b.top + b.height)
        for c in range(b.left, b.left + b.width)
    }
    assert set(m.target.tolist()) == expected
    # The context is the context block over the earlier slices (nothing removed: different slices).
    assert m.context.numel() == cb.height * cb.width * len(earlier)


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.05, 1.0), aspect=st.floats(0.5, 2.0))
def test_block_area_matches_scale_on_a_fine_grid(scale: float, aspect: float) -> None:
    h, w = block_size(scale, aspect, 200, 200)
    if max(scale * aspect, scale / aspect) > 1:
        # A block taller (or wider) than the frame is clamped to the frame's side.
        assert 200 in (h, w)
        return
    area = h * w / 200**2
    # Rounding h and w to integers moves the area by at most about one row and one column.
    assert abs(area - scale) <= (h + w + 1) / 200**2
    assert abs(h / w - aspect) <= aspect * (1 / h + 1 / w) * 1.01


def test_reference_defaults_on_a_demo_grid() -> None:
    cfg = MultiblockMaskConfig()  # ALGORITHMS §A: context U(0.85, 1), targets 4 x U(0.10, 0.15), min_keep 10
    assert (cfg.context_scale, cfg.target_scale, cfg.target_aspect, cfg.n_targets, cfg.min_keep) == (
        (0.85, 1.0), (0.10, 0.15), (0.75, 1.5), 4, 10)
    ctx, tgt = multiblock_masks(5, 4, 4, 4, cfg, _gen(3))  # 8 frames / tubelet 2, 32 px / patch 8
    assert ctx.shape[0] == tgt.shape[0] == 5 and ctx.dtype == tgt.dtype == torch.long
    assert ctx.shape[1] >= 10
    assert (ctx < 32).all() and (tgt >= 32).all() and (tgt < 64).all()


def test_collate_subsamples_to_the_batch_minimum() -> None:
    gen = _gen(11)
    cfg = MultiblockMaskConfig(context_scale=(0.3, 1.0), min_keep=1)
    samples = [sample_mask(4, 8, 8, cfg, gen) for _ in range(6)]
    ctx, tgt = collate_masks(samples, gen)
    assert ctx.shape == (6, min(s.context.numel() for s in samples))
    assert tgt.shape == (6, min(s.target.numel() for s in samples))
    for row_c, row_t, s in zip(ctx, tgt, samples):
        assert set(row_c.tolist()) <= set(s.context.tolist()) and len(set(row_c.tolist())) == row_c.numel()
        assert set(row_t.tolist()) <= set(s.target.tolist())
        assert torch.equal(row_c, row_c.sort().values)


def test_reproducible_from_generator_state() -> None:
    gen = _gen(5)
    state = gen.get_state()
    a = multiblock_masks(3, 4, 6, 6, MultiblockMaskConfig(), gen)
    gen.set_state(state)
    b = multiblock_masks(3, 4, 6, 6, MultiblockMaskConfig(), gen)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_min_keep_unreachable_names_the_key() -> None:
    with pytest.raises(ValueError, match="masks.min_keep=40"):
        sample_mask(2, 4, 4, MultiblockMaskConfig(min_keep=40), _gen())


def test_needs_two_temporal_slices() -> None:
    with pytest.raises(ValueError, match="at least 2 temporal slices"):
        sample_mask(1, 4, 4, MultiblockMaskConfig(), _gen())


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^models\.vjepa\.masks\.n_target: unknown key"):
        MultiblockMaskConfig.from_mapping({"n_target": 4})
    with pytest.raises(ConfigError, match=r"^models\.vjepa\.masks\.target_scale"):
        MultiblockMaskConfig.from_mapping({"target_scale": [0.2, 0.1]})
    cfg = MultiblockMaskConfig.from_mapping({"n_targets": 2, "target_scale": [0.2, 0.3]})
    assert cfg.n_targets == 2 and cfg.target_scale == (0.2, 0.3)
