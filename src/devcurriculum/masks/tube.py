"""VideoMAE tube masks (docs/algorithms.md §A, "VideoMAE").

One random subset of a frame's patches is masked per sample and the same subset is repeated over every
temporal slice (``num_frames // tubelet_size`` of them), so a masked patch stays hidden for the whole
clip and the model cannot copy it from a neighbouring frame. Every sample masks exactly
``int(ratio * patches_per_frame)`` patches per slice, which is what ``VideoMAEForPreTraining`` needs
(it reshapes the visible tokens to a dense ``(B, N_visible, D)`` tensor).

Token order follows ``transformers``' VideoMAE patch embedding (a ``Conv3d`` flattened as
``(t, h, w)``): token ``t * gh * gw + h * gw + w``.
"""

from __future__ import annotations

import torch


def masked_per_frame(ratio: float, patches_per_frame: int) -> int:
    """``int(ratio * patches_per_frame)``: the reference's count (0.9 of 196 -> 176)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {ratio}")
    if patches_per_frame < 1:
        raise ValueError(f"patches_per_frame must be >= 1, got {patches_per_frame}")
    return int(ratio * patches_per_frame)


def random_subset_mask(rows: int, positions: int, n_true: int, generator: torch.Generator) -> torch.Tensor:
    """A bool ``(rows, positions)`` mask with ``n_true`` True per row, a uniformly random subset per row.

    One ``torch.rand`` draw per position, argsorted: the first ``n_true`` of each row's permutation are
    True, so the masks follow from the generator's state alone.
    """
    order = torch.rand(rows, positions, generator=generator).argsort(dim=1)
    mask = torch.zeros(rows, positions, dtype=torch.bool)
    mask.scatter_(1, order[:, :n_true], True)
    return mask


def tube_mask(
    batch_size: int,
    temporal_slices: int,
    patches_per_frame: int,
    ratio: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """A bool ``(batch_size, temporal_slices * patches_per_frame)`` mask, ``True`` = masked.

    Each row masks the same ``masked_per_frame(ratio, patches_per_frame)`` patches in every temporal
    slice; the patches are a uniformly random subset drawn from ``generator`` (CPU), so the masks are
    reproducible from the generator's state.
    """
    if batch_size < 1 or temporal_slices < 1:
        raise ValueError(f"batch_size and temporal_slices must be >= 1, got {batch_size}, {temporal_slices}")
    frame_mask = random_subset_mask(batch_size, patches_per_frame, masked_per_frame(ratio, patches_per_frame), generator)
    return frame_mask.repeat(1, temporal_slices)


def future_mask(
    batch_size: int,
    temporal_slices: int,
    patches_per_frame: int,
    ratio: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Predict the future: every token of the later half of the slices masked, plus random earlier tokens.

    The later ``temporal_slices - temporal_slices // 2`` slices are masked whole (as V-JEPA's clip mode
    puts its targets on the later half); tokens of the earlier half, drawn per row from ``generator``,
    make up the rest of ``int(ratio * tokens)``, so every row masks the same number of tokens. ``ratio``
    must cover the later half.
    """
    if temporal_slices < 2:
        raise ValueError(f"a future mask needs at least 2 temporal slices, got {temporal_slices}")
    n_tokens = temporal_slices * patches_per_frame
    n_early = (temporal_slices // 2) * patches_per_frame
    n_masked = int(ratio * n_tokens)
    extra = n_masked - (n_tokens - n_early)
    if extra < 0:
        raise ValueError(
            f"mask_ratio {ratio} masks {n_masked} of {n_tokens} tokens, fewer than the later half ({n_tokens - n_early})"
        )
    early = random_subset_mask(batch_size, n_early, extra, generator)
    return torch.cat([early, torch.ones(batch_size, n_tokens - n_early, dtype=torch.bool)], dim=1)
