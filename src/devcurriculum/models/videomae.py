"""VideoMAE: masked-autoencoder pretraining with tube masks (``objective: videomae``).

The network is ``transformers.VideoMAEForPreTraining`` built from a ``VideoMAEConfig`` (random init);
image size and frame count come from ``data.clip``. The masks are tube masks (``masks/tube.py``) drawn
from the objective's own per-rank generator (``mask_generator``), which the checkpoint code saves and
restores with the other RNG states, so a resumed run draws the same masks.

Pixel convention: our batches are ``(x - 0.5) / 0.25``; ``VideoMAEForPreTraining`` computes its
reconstruction targets by undoing ImageNet mean/std normalisation. We therefore re-express each batch
in ImageNet normalisation before the forward pass (a fixed per-channel affine map), so the targets are
the true pixels in [0, 1] (``norm_pix_loss: false``) or their per-patch normalised version (``true``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from transformers import VideoMAEConfig, VideoMAEForPreTraining
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from devcurriculum.masks.tube import tube_mask
from devcurriculum.models.objective import Objective
from devcurriculum.models.registry import ModelConfig, rank_generator, token_shape

log = logging.getLogger("devcurriculum.models.videomae")

# Our normalisation (ALGORITHMS §A / docs/architecture.md): float in [0, 1], then (x - 0.5) / 0.25.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25

DEFAULTS: dict[str, Any] = {
    "hidden_size": 96,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 384,
    "patch_size": 8,
    "tubelet_size": 2,
    "decoder_hidden_size": 64,
    "decoder_num_hidden_layers": 2,
    "decoder_num_attention_heads": 4,
    "decoder_intermediate_size": 256,
    "mask_ratio": 0.75,
    "norm_pix_loss": True,
}


def to_imagenet_normalisation(batch: torch.Tensor) -> torch.Tensor:
    """Map ``(x - 0.5) / 0.25`` pixels to ``(x - imagenet_mean) / imagenet_std`` (per channel)."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, dtype=batch.dtype, device=batch.device)[None, None, :, None, None]
    std = torch.tensor(IMAGENET_DEFAULT_STD, dtype=batch.dtype, device=batch.device)[None, None, :, None, None]
    return (batch * PIXEL_STD + PIXEL_MEAN - mean) / std


class VideoMAEObjective(Objective):
    """VideoMAE pretraining objective; see the module docstring for masks and pixel targets."""

    name = "videomae"

    def __init__(self, model_cfg: Mapping[str, Any], clip_cfg: Mapping[str, Any]) -> None:
        super().__init__()
        cfg = ModelConfig(model_cfg, "videomae", set(DEFAULTS))
        frames, size, self.patch_size, self.tubelet_size = token_shape(cfg, clip_cfg, DEFAULTS)
        self.mask_ratio = cfg.get("mask_ratio", DEFAULTS["mask_ratio"], float)
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"videomae model config key 'mask_ratio' must be in (0, 1), got {self.mask_ratio}")
        self.frames, self.size = frames, size
        self.grid = size // self.patch_size
        self.temporal_slices = frames // self.tubelet_size
        config = VideoMAEConfig(
            image_size=size,
            num_frames=frames,
            num_channels=3,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size,
            hidden_size=cfg.positive_int("hidden_size", DEFAULTS["hidden_size"]),
            num_hidden_layers=cfg.positive_int("num_hidden_layers", DEFAULTS["num_hidden_layers"]),
            num_attention_heads=cfg.positive_int("num_attention_heads", DEFAULTS["num_attention_heads"]),
            intermediate_size=cfg.positive_int("intermediate_size", DEFAULTS["intermediate_size"]),
            decoder_hidden_size=cfg.positive_int("decoder_hidden_size", DEFAULTS["decoder_hidden_size"]),
            decoder_num_hidden_layers=cfg.positive_int("decoder_num_hidden_layers", DEFAULTS["decoder_num_hidden_layers"]),
            decoder_num_attention_heads=cfg.positive_int(
                "decoder_num_attention_heads", DEFAULTS["decoder_num_attention_heads"]
            ),
            decoder_intermediate_size=cfg.positive_int("decoder_intermediate_size", DEFAULTS["decoder_intermediate_size"]),
            norm_pix_loss=cfg.get("norm_pix_loss", DEFAULTS["norm_pix_loss"], bool),
        )
        for width, heads, prefix in (
            (config.hidden_size, config.num_attention_heads, ""),
            (config.decoder_hidden_size, config.decoder_num_attention_heads, "decoder_"),
        ):
            if width % heads:
                raise ValueError(
                    f"videomae {prefix}hidden_size={width} is not divisible by {prefix}num_attention_heads={heads}"
                )
        self.model = VideoMAEForPreTraining(config)
        self.mask_generator = rank_generator()
        n_params = sum(p.numel() for p in self.parameters())
        log.info(
            "VideoMAE: %d tokens (%d slices x %dx%d), mask ratio %.2f, %.2fM parameters",
            self.num_tokens, self.temporal_slices, self.grid, self.grid, self.mask_ratio, n_params / 1e6,
        )

    @property
    def num_tokens(self) -> int:
        return self.temporal_slices * self.grid * self.grid

    # ---- resume support: the checkpoint code also finds ``mask_generator`` by attribute -------------
    def mask_rng_state(self) -> torch.Tensor:
        """State of the mask generator (a uint8 tensor), for saving alongside the model."""
        return self.mask_generator.get_state()

    def set_mask_rng_state(self, state: torch.Tensor) -> None:
        self.mask_generator.set_state(state)

    # ---- Objective ----------------------------------------------------------------------------------
    def _check(self, batch: torch.Tensor) -> None:
        expected = (self.frames, 3, self.size, self.size)
        if batch.ndim != 5 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"videomae expects batches (B, {', '.join(map(str, expected))}), got {tuple(batch.shape)}")

    def draw_mask(self, batch_size: int) -> torch.Tensor:
        """Tube masks for ``batch_size`` samples from the objective's generator (advances it)."""
        return tube_mask(batch_size, self.temporal_slices, self.grid * self.grid, self.mask_ratio, self.mask_generator)

    def forward(self, batch: torch.Tensor, step: int = 0) -> torch.Tensor:
        """The loss (so a ``DistributedDataParallel`` wrapper can be called directly)."""
        return self.loss(batch, step)

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        self._check(batch)
        mask = self.draw_mask(batch.shape[0]).to(batch.device)
        out = self.model(pixel_values=to_imagenet_normalisation(batch), bool_masked_pos=mask)
        return out.loss

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Mean over all tokens of the last encoder layer, no masking (DESIGN §6)."""
        self._check(batch)
        hidden = self.model.videomae(pixel_values=to_imagenet_normalisation(batch)).last_hidden_state
        return hidden.mean(dim=1)

    def depth_groups(self) -> list[list[nn.Parameter]]:
        """[patch embedding], [encoder block 0], ..., [encoder block L-1], [encoder norm + decoder side]."""
        encoder = self.model.videomae
        groups: list[list[nn.Parameter]] = [list(encoder.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in encoder.encoder.layer]
        head: list[nn.Parameter] = []
        if encoder.layernorm is not None:
            head += list(encoder.layernorm.parameters())
        head += list(self.model.encoder_to_decoder.parameters())
        head.append(self.model.mask_token)
        head += list(self.model.decoder.parameters())
        groups.append(head)
        return [[p for p in g if p.requires_grad] for g in groups]
