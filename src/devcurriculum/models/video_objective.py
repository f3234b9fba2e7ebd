"""The base of the two ViT-style video objectives (VideoMAE, V-JEPA): clips cut into tokens, masks per rank.

A clip of ``data.clip.frames`` frames of ``data.clip.size`` pixels is cut into ``frames // tubelet_size``
temporal slices of ``grid x grid`` patches (``config/workflow.py`` makes sure the clip tiles exactly).
Masks are drawn from the objective's own generator ``mask_generator``, which the checkpoint code saves
and restores with the other RNG states, so a resumed run draws the same masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from devcurriculum.config import ClipConfig, VideoEmbeddingConfig, VideoMAEModelConfig, VJEPAModelConfig
from devcurriculum.models.common import ClipObjective

#: eps of the seed study's ``fc_norm`` (``torch.nn.LayerNorm``'s default)
FC_NORM_EPS = 1e-5


class MaskedVideoObjective(ClipObjective):
    """A video objective on a token grid that draws its masks from ``mask_generator``.

    Subclasses build their network first and set ``self.mask_generator = rank_generator()`` after it:
    the generator's seed is then the global RNG's next draw after the initial weights.
    """

    mask_generator: torch.Generator

    def __init__(self, model: VideoMAEModelConfig | VJEPAModelConfig, clip: ClipConfig) -> None:
        super().__init__(clip)
        self.patch_size = model.patch_size
        self.tubelet_size = model.tubelet_size
        self.grid = clip.size // model.patch_size
        self.temporal_slices = clip.frames // model.tubelet_size
        self.embedding: VideoEmbeddingConfig = model.embedding

    def pool_tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` last-layer tokens -> ``(B, D)`` mean, or ``(B, cells * D)`` space-time grid cells.

        ``fc_norm`` is the mean followed by a LayerNorm without affine parameters (the seed study reads
        VideoMAE out through ``VideoMAEForVideoClassification``'s freshly initialised ``fc_norm``, whose
        weight is 1 and bias 0; its eps, 1e-5, is ``nn.LayerNorm``'s default). Tokens are numbered
        ``t * grid^2 + h * grid + w`` (the Conv3d patch embedding's order); the grid pooling averages the
        tokens inside each of ``embedding.grid`` cells and concatenates the cells.
        """
        if self.embedding.pooling == "mean":
            return hidden.mean(dim=1)
        if self.embedding.pooling == "fc_norm":
            mean = hidden.mean(dim=1)
            return F.layer_norm(mean, (mean.shape[-1],), eps=FC_NORM_EPS)
        b, n, d = hidden.shape
        cube = hidden.reshape(b, n // (self.grid * self.grid), self.grid, self.grid, d).permute(0, 4, 1, 2, 3)
        return F.adaptive_avg_pool3d(cube, self.embedding.grid).flatten(2).transpose(1, 2).reshape(b, -1)

    def mask_rng_state(self) -> torch.Tensor:
        """State of the mask generator (a uint8 tensor), for saving alongside the model."""
        return self.mask_generator.get_state()

    def set_mask_rng_state(self, state: torch.Tensor) -> None:
        self.mask_generator.set_state(state)
