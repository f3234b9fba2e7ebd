"""Tube masks: the reference counts of docs/algorithms.md §A ("VideoMAE"), tiling over time, reproducibility."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from devcurriculum.masks.tube import masked_per_frame, tube_mask


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_reference_counts_vit_b_224() -> None:
    # 16 frames, tubelet 2 -> 8 slices; 224 / 16 = 14 -> 196 patches per frame.
    assert masked_per_frame(0.9, 196) == 176
    mask = tube_mask(3, 8, 196, 0.9, _gen())
    assert mask.shape == (3, 1568)
    assert mask.dtype == torch.bool
    assert mask.sum(dim=1).tolist() == [1408, 1408, 1408]
    assert mask.view(3, 8, 196).sum(dim=2).eq(176).all()


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 6),
    slices=st.integers(1, 8),
    per_frame=st.integers(1, 64),
    ratio=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_counts_and_tiling(batch: int, slices: int, per_frame: int, ratio: float, seed: int) -> None:
    mask = tube_mask(batch, slices, per_frame, ratio, _gen(seed))
    per_slice = mask.view(batch, slices, per_frame)
    assert per_slice.sum(dim=2).eq(int(ratio * per_frame)).all()
    # The same frame mask in every temporal slice (a tube).
    assert torch.equal(per_slice, per_slice[:, :1].expand_as(per_slice))


def test_reproducible_from_generator_state() -> None:
    gen = _gen(7)
    state = gen.get_state()
    first = tube_mask(4, 4, 16, 0.75, gen)
    gen.set_state(state)
    again = tube_mask(4, 4, 16, 0.75, gen)
    assert torch.equal(first, again)
    # The generator advanced: the next draw differs (2^-? chance of equality is negligible for 4 rows).
    assert not torch.equal(first, tube_mask(4, 4, 16, 0.75, gen))


def test_samples_get_different_masks() -> None:
    mask = tube_mask(8, 2, 64, 0.5, _gen(1))
    assert len({tuple(row.tolist()) for row in mask}) == 8


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_invalid_ratio(ratio: float) -> None:
    with pytest.raises(ValueError, match="mask_ratio"):
        tube_mask(1, 1, 16, ratio, _gen())


def test_future_masks_hide_the_later_half_and_keep_the_ratio() -> None:
    from devcurriculum.masks.tube import future_mask

    gen = torch.Generator().manual_seed(0)
    mask = future_mask(5, 4, 16, 0.75, gen).view(5, 4, 16)  # 64 tokens, 48 masked: 32 later + 16 earlier
    assert mask[:, 2:].all(), "the later half is masked whole"
    assert (mask[:, :2].sum(dim=(1, 2)) == 16).all() and (mask.sum(dim=(1, 2)) == 48).all()
    assert not (mask[0, :2] == mask[1, :2]).all(), "the earlier tokens are drawn per row"
    with pytest.raises(ValueError, match="fewer than the later half"):
        future_mask(1, 4, 16, 0.4, gen)
    with pytest.raises(ValueError, match="at least 2 temporal slices"):
        future_mask(1, 1, 16, 0.9, gen)
