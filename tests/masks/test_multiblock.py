"""V-JEPA multiblock masks: block sizes, slices, the context never sees a target's position, min_keep, collation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from devcurriculum.config import ConfigError, MultiblockMaskConfig, TubeBlocksConfig
from devcurriculum.masks.multiblock import (
    block_size,
    collate_masks,
    multiblock_masks,
    per_target_masks,
    sample_mask,
    sample_masks,
    split_slices,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ranges(lo_min: float, hi_max: float):
    return st.tuples(st.floats(lo_min, hi_max), st.floats(lo_min, hi_max)).map(lambda t: (min(t), max(t)))


def _positions(tokens: torch.Tensor, per_slice: int) -> set[int]:
    return set((tokens % per_slice).tolist())


def _assert_no_target_position_in_context(context: torch.Tensor, target: torch.Tensor, per_slice: int) -> None:
    """The property of the issue: no spatial position of a target is visible in any context frame."""
    assert not _positions(context, per_slice) & _positions(target, per_slice)


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
def test_seed_2frame_properties(grid_t, grid_h, grid_w, context_scale, target_scale, target_aspect, n_targets, seed):
    cfg = MultiblockMaskConfig(
        context_scale=context_scale, target_scale=target_scale, target_aspect=target_aspect, n_targets=n_targets, min_keep=1
    )
    try:
        m = sample_mask(grid_t, grid_h, grid_w, cfg, _gen(seed))
    except ValueError as exc:  # targets covering the whole context block on a tiny grid, every try
        assert "masks.min_keep=1" in str(exc)
        return
    per_slice = grid_h * grid_w
    earlier, later = split_slices(grid_t)

    # Context on the earlier slices, targets on the later ones; no target position in any context frame.
    assert set((m.context // per_slice).tolist()) <= set(earlier)
    assert set((m.target // per_slice).tolist()) <= set(later)
    _assert_no_target_position_in_context(m.context, m.target, per_slice)
    assert m.context.numel() >= cfg.min_keep
    assert torch.equal(m.context, m.context.sort().values) and torch.equal(m.target, m.target.sort().values)

    # Drawn scales/aspects inside their ranges; block sizes follow block_size; blocks fit the grid.
    cb = m.context_block
    assert cb is not None
    assert context_scale[0] <= cb.scale <= context_scale[1] and cb.aspect == 1.0
    assert (cb.height, cb.width) == block_size(cb.scale, 1.0, grid_h, grid_w)
    assert len(m.target_blocks) == n_targets
    for b in m.target_blocks:
        assert target_scale[0] <= b.scale <= target_scale[1]
        assert target_aspect[0] <= b.aspect <= target_aspect[1]
        assert (b.height, b.width) == block_size(b.scale, b.aspect, grid_h, grid_w)
    for b in [cb, *m.target_blocks]:
        assert b.top >= 0 and b.top + b.height <= grid_h and b.left >= 0 and b.left + b.width <= grid_w

    # The target set is exactly the union of the target blocks over the later slices, and the context
    # exactly the context block minus those positions, over the earlier slices.
    hidden = {r * grid_w + c for b in m.target_blocks for r in range(b.top, b.top + b.height)
              for c in range(b.left, b.left + b.width)}
    block = {r * grid_w + c for r in range(cb.top, cb.top + cb.height) for c in range(cb.left, cb.left + cb.width)}
    assert set(m.target.tolist()) == {t * per_slice + p for t in later for p in hidden}
    assert set(m.context.tolist()) == {t * per_slice + p for t in earlier for p in block - hidden}


@pytest.mark.parametrize(("grid_t", "name"), [(2, "pairs"), (4, "clip")])
def test_collated_batches_never_show_a_target_position(grid_t: int, name: str) -> None:
    # The demo's V-JEPA: 32 px / patch 8 = 4x4 patches; pairs = 2 slices, clip = 8 frames / tubelet 2.
    cfg = MultiblockMaskConfig()
    gen = _gen(7)
    for _ in range(20):
        [(context, target)] = multiblock_masks(16, grid_t, 4, 4, cfg, gen)
        assert context.shape[1] >= cfg.min_keep, name
        for row_c, row_t in zip(context, target, strict=True):
            _assert_no_target_position_in_context(row_c, row_t, 16)


def test_the_old_leak_is_gone() -> None:
    # Before the fix the context covered the whole block on the earlier frame, targets' places included:
    # about 97 % of target positions were visible. Now none are, on the reference's 14x14 grid.
    gen, cfg, per_slice = _gen(1), MultiblockMaskConfig(), 14 * 14
    seen = sum(len(_positions(m.context, per_slice) & _positions(m.target, per_slice))
               for m in (sample_mask(2, 14, 14, cfg, gen) for _ in range(50)))
    assert seen == 0


@settings(max_examples=60, deadline=None)
@given(
    grid_t=st.integers(1, 8),
    grid_h=st.integers(2, 14),
    grid_w=st.integers(2, 14),
    sets=st.lists(st.tuples(st.integers(1, 8), _ranges(0.05, 0.7), _ranges(0.5, 2.0)), min_size=1, max_size=3),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_multiblock3d_properties(grid_t, grid_h, grid_w, sets, batch, seed) -> None:
    blocks3d = tuple(TubeBlocksConfig(n_blocks=n, scale=s, aspect=a) for n, s, a in sets)
    cfg = MultiblockMaskConfig(kind="multiblock3d", blocks3d=blocks3d, min_keep=1)
    try:
        drawn = sample_masks(batch, grid_t, grid_h, grid_w, cfg, _gen(seed))
    except ValueError as exc:  # blocks covering the whole frame, every try
        assert "masks.min_keep=1" in str(exc)
        return
    per_slice, every = grid_h * grid_w, set(range(grid_t * grid_h * grid_w))
    assert len(drawn) == len(blocks3d)
    for samples, blocks in zip(drawn, blocks3d, strict=True):
        assert len(samples) == batch
        first = samples[0].target_blocks[0]
        # One block size per set and batch, from the set's ranges (as facebookresearch/jepa draws it).
        assert blocks.scale[0] <= first.scale <= blocks.scale[1] and blocks.aspect[0] <= first.aspect <= blocks.aspect[1]
        assert (first.height, first.width) == block_size(first.scale, first.aspect, grid_h, grid_w)
        for m in samples:
            assert m.context_block is None and len(m.target_blocks) == blocks.n_blocks
            assert all((b.height, b.width, b.scale) == (first.height, first.width, first.scale) for b in m.target_blocks)
            hidden = {r * grid_w + c for b in m.target_blocks for r in range(b.top, b.top + b.height)
                      for c in range(b.left, b.left + b.width)}
            # Tubes through every slice; the context is exactly the complement.
            assert set(m.target.tolist()) == {t * per_slice + p for t in range(grid_t) for p in hidden}
            assert set(m.context.tolist()) == every - set(m.target.tolist())
            _assert_no_target_position_in_context(m.context, m.target, per_slice)
            assert m.context.numel() >= cfg.min_keep


def test_multiblock3d_reference_sets_on_the_reference_grid() -> None:
    # facebookresearch/jepa: 8 short-range blocks at 0.15 and 2 long-range at 0.7, aspect U(0.75, 1.5);
    # 16 frames / tubelet 2 at 224 px / patch 16 = 8 x 14 x 14 tokens.
    cfg = MultiblockMaskConfig(kind="multiblock3d")
    assert [(b.n_blocks, b.scale, b.aspect) for b in cfg.blocks3d] == [(8, (0.15, 0.15), (0.75, 1.5)),
                                                                     (2, (0.7, 0.7), (0.75, 1.5))]
    gen = _gen(2)
    for _ in range(5):
        short, long = sample_masks(4, 8, 14, 14, cfg, gen)
        for samples, scale, n in ((short, 0.15, 8), (long, 0.7, 2)):
            for m in samples:
                b = m.target_blocks[0]
                # Each block covers the scale's share of the frame within rounding of one row and column.
                assert abs(b.height * b.width / 196 - scale) <= (b.height + b.width + 1) / 196
                assert len(m.target_blocks) == n
                assert m.context.numel() + m.target.numel() == 8 * 196
    pairs = multiblock_masks(4, 8, 14, 14, cfg, gen)
    assert len(pairs) == 2 and all(c.shape[0] == t.shape[0] == 4 for c, t in pairs)


def test_multiblock3d_min_keep_unreachable_names_the_key() -> None:
    cfg = MultiblockMaskConfig(kind="multiblock3d", blocks3d=(TubeBlocksConfig(n_blocks=1, scale=(1.0, 1.0)),))
    with pytest.raises(ValueError, match=r"masks.min_keep=10 .* 1 tube blocks of scale 1.000 \(masks.blocks3d\)"):
        sample_masks(2, 2, 4, 4, cfg, _gen())


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
    cfg = MultiblockMaskConfig()  # docs/algorithms.md §A, "V-JEPA": context U(0.85, 1), targets 4 x U(0.10, 0.15), min_keep 10
    assert (cfg.kind, cfg.context_scale, cfg.target_scale, cfg.target_aspect, cfg.n_targets, cfg.min_keep) == (
        "seed_2frame", (0.85, 1.0), (0.10, 0.15), (0.75, 1.5), 4, 10)
    [(ctx, tgt)] = multiblock_masks(5, 4, 4, 4, cfg, _gen(3))  # 8 frames / tubelet 2, 32 px / patch 8
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


@pytest.mark.parametrize("kind", ["seed_2frame", "multiblock3d"])
def test_reproducible_from_generator_state(kind: str) -> None:
    gen = _gen(5)
    state = gen.get_state()
    a = multiblock_masks(3, 4, 6, 6, MultiblockMaskConfig(kind=kind, min_keep=1), gen)
    gen.set_state(state)
    b = multiblock_masks(3, 4, 6, 6, MultiblockMaskConfig(kind=kind, min_keep=1), gen)
    assert all(torch.equal(x, y) for pa, pb in zip(a, b, strict=True) for x, y in zip(pa, pb, strict=True))


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
    with pytest.raises(ConfigError, match=r"^models\.vjepa\.masks\.kind: 'tubes' is not one of"):
        MultiblockMaskConfig.from_mapping({"kind": "tubes"})
    with pytest.raises(ConfigError, match=r"^models\.vjepa\.masks\.blocks3d\[0\]\.scale: must be \[low, high\]"):
        MultiblockMaskConfig.from_mapping({"blocks3d": [{"n_blocks": 2, "scale": [0.7, 0.2]}]})
    with pytest.raises(ConfigError, match=r"^models\.vjepa\.masks\.blocks3d\[0\]: 'n_blocks' is a required property"):
        MultiblockMaskConfig.from_mapping({"blocks3d": [{"scale": [0.2, 0.2]}]})
    cfg = MultiblockMaskConfig.from_mapping({"n_targets": 2, "target_scale": [0.2, 0.3],
                                             "blocks3d": [{"n_blocks": 3, "scale": [0.2, 0.3]}]})
    assert cfg.n_targets == 2 and cfg.target_scale == (0.2, 0.3)
    assert cfg.blocks3d == (TubeBlocksConfig(n_blocks=3, scale=(0.2, 0.3), aspect=(0.75, 1.5)),)


@pytest.mark.parametrize(("grid_t", "grid_h", "grid_w"), [(2, 4, 4), (4, 4, 4), (5, 3, 6)])
def test_future_context_is_the_whole_past_and_target_the_whole_future(grid_t: int, grid_h: int, grid_w: int) -> None:
    per_slice = grid_h * grid_w
    half = grid_t // 2
    ((context, target),) = multiblock_masks(3, grid_t, grid_h, grid_w, MultiblockMaskConfig(kind="future"), _gen())
    for row_c, row_t in zip(context, target, strict=True):
        assert row_c.tolist() == list(range(half * per_slice))
        assert row_t.tolist() == list(range(half * per_slice, grid_t * per_slice))
    # nothing random: the generator is not consumed
    gen = _gen(3)
    state = gen.get_state()
    multiblock_masks(2, grid_t, grid_h, grid_w, MultiblockMaskConfig(kind="future"), gen)
    assert torch.equal(gen.get_state(), state)


def test_per_target_masks_keep_every_block_apart() -> None:
    # the seed study's 2-frame grid: 14 x 14 patches, 2 slices (frame pair, tubelet 1), 4 targets
    cfg = MultiblockMaskConfig(predictor="per_target")
    gen = _gen(4)
    state = gen.get_state()
    context, targets = per_target_masks(6, 2, 14, 14, cfg, gen)
    per_slice = 14 * 14
    assert context.dtype == torch.long and context.shape[0] == 6 and (context < per_slice).all()
    assert len(targets) == cfg.n_targets
    # the same draws as the union path: regenerate the samples from the generator's state
    replay = torch.Generator()
    replay.set_state(state)
    [samples] = sample_masks(6, 2, 14, 14, cfg, replay)
    for k, target in enumerate(targets):
        smallest = min(s.target_blocks[k].height * s.target_blocks[k].width for s in samples)
        assert target.dtype == torch.long and target.shape == (6, smallest)  # one later slice: the block's patches
        assert ((target >= per_slice) & (target < 2 * per_slice)).all()
        for row, sample in zip(target, samples, strict=True):
            assert set(row.tolist()) <= set((sample.target_blocks[k].positions(14) + per_slice).tolist())
            assert torch.equal(row, row.sort().values)
    for row, sample in zip(context, samples, strict=True):
        # the context still shows no position of any block, and is the sample's own context, cut to the minimum
        assert set(row.tolist()) <= set(sample.context.tolist())
        _assert_no_target_position_in_context(row, sample.target, per_slice)
    assert context.shape[1] == min(s.context.numel() for s in samples)


def test_per_target_masks_need_seed_2frame() -> None:
    with pytest.raises(ConfigError, match=r"masks.predictor: per_target .* needs kind: seed_2frame, got kind: multiblock3d"):
        MultiblockMaskConfig(kind="multiblock3d", predictor="per_target")
    with pytest.raises(ValueError, match="need masks.kind seed_2frame, got future"):
        per_target_masks(2, 2, 4, 4, MultiblockMaskConfig(kind="future"), _gen())
    # the default is the union pass, left out of the block's dict (existing configs keep their params)
    assert MultiblockMaskConfig().predictor == "union" and "predictor" not in MultiblockMaskConfig().to_dict()
    assert MultiblockMaskConfig(predictor="per_target").to_dict()["predictor"] == "per_target"
