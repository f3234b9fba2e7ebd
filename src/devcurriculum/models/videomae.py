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
from pathlib import Path

import torch
from torch import nn
from transformers import VideoMAEConfig, VideoMAEForPreTraining
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from devcurriculum.config import ClipConfig, VideoMAEModelConfig
from devcurriculum.masks.tube import future_mask, tube_mask
from devcurriculum.models.common import ATTENTION, rank_generator
from devcurriculum.models.video_objective import MaskedVideoObjective

log = logging.getLogger("devcurriculum.models.videomae")

# Our normalisation (docs/algorithms.md §A / docs/architecture.md): float in [0, 1], then (x - 0.5) / 0.25.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def to_imagenet_normalisation(batch: torch.Tensor) -> torch.Tensor:
    """Map ``(x - 0.5) / 0.25`` pixels to ``(x - imagenet_mean) / imagenet_std`` (per channel)."""
    # built on the host and copied without blocking: a blocking copy would wait for the device's queue
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, dtype=batch.dtype).to(batch.device, non_blocking=True)[None, None, :, None, None]
    std = torch.tensor(IMAGENET_DEFAULT_STD, dtype=batch.dtype).to(batch.device, non_blocking=True)[None, None, :, None, None]
    return (batch * PIXEL_STD + PIXEL_MEAN - mean) / std


def videomae_config(model: VideoMAEModelConfig, clip: ClipConfig) -> VideoMAEConfig:
    """The ``transformers`` config of the network: the block's sizes on clips of ``data.clip``."""
    return VideoMAEConfig(
        image_size=clip.size,
        num_frames=clip.frames,
        num_channels=3,
        patch_size=model.patch_size,
        tubelet_size=model.tubelet_size,
        hidden_size=model.hidden_size,
        num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads,
        intermediate_size=model.intermediate_size,
        decoder_hidden_size=model.decoder_hidden_size,
        decoder_num_hidden_layers=model.decoder_num_hidden_layers,
        decoder_num_attention_heads=model.decoder_num_attention_heads,
        decoder_intermediate_size=model.decoder_intermediate_size,
        norm_pix_loss=model.norm_pix_loss,
        attn_implementation=ATTENTION,  # type: ignore[call-arg]  # PretrainedConfig takes it via **kwargs
    )


#: the loading and input lines of the export README (models/video_objective.py renders the rest)
EXPORT_LOAD = (
    "from transformers import AutoModel\n"
    'encoder = AutoModel.from_pretrained("<this folder>").eval()  # a VideoMAEModel'
)
EXPORT_NORMALISE = (
    "mean, std = torch.tensor({mean}).view(3, 1, 1), torch.tensor({std}).view(3, 1, 1)\n"
    "videos = (x - mean) / std  # ImageNet statistics, as preprocessor_config.json says"
)
EXPORT_ENCODE = "tokens = encoder(pixel_values=videos).last_hidden_state"


class VideoMAEObjective(MaskedVideoObjective):
    """VideoMAE pretraining objective; see the module docstring for masks and pixel targets."""

    name = "videomae"

    def __init__(self, model: VideoMAEModelConfig, clip: ClipConfig) -> None:
        super().__init__(model, clip)
        self.mask_ratio = model.mask_ratio
        self.mask_type = model.mask_type
        self.model = VideoMAEForPreTraining(videomae_config(model, clip))
        self.mask_generator = rank_generator()
        n_params = sum(p.numel() for p in self.parameters())
        log.info(
            "VideoMAE: %d tokens (%d slices x %dx%d), mask ratio %.2f, %.2fM parameters",
            self.num_tokens, self.temporal_slices, self.grid, self.grid, self.mask_ratio, n_params / 1e6,
        )

    @property
    def num_tokens(self) -> int:
        return self.temporal_slices * self.grid * self.grid

    def draw_mask(self, batch_size: int) -> torch.Tensor:
        """Masks for ``batch_size`` samples from the objective's generator (advances it).

        ``tube``: one spatial mask tiled over the temporal slices; ``random``: every token on its own (a
        one-slice "tube" over all tokens), so a masked patch may be visible in another slice;
        ``future``: the later half of the clip masked whole, the rest of the ratio from the earlier half.
        """
        if self.mask_type == "future":
            return future_mask(batch_size, self.temporal_slices, self.grid * self.grid, self.mask_ratio,
                               self.mask_generator)
        if self.mask_type == "random":
            return tube_mask(batch_size, 1, self.num_tokens, self.mask_ratio, self.mask_generator)
        return tube_mask(batch_size, self.temporal_slices, self.grid * self.grid, self.mask_ratio, self.mask_generator)

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        self.check_batch(batch)
        mask = self.draw_mask(batch.shape[0]).to(batch.device, non_blocking=True)  # no host sync
        out = self.model(pixel_values=to_imagenet_normalisation(batch), bool_masked_pos=mask)
        return out.loss

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """The last encoder layer's tokens without masking, pooled by ``embedding`` (mean: docs/evaluation.md "Embeddings")."""
        self.check_batch(batch)
        hidden = self.model.videomae(pixel_values=to_imagenet_normalisation(batch)).last_hidden_state
        return self.pool_tokens(hidden)

    def export_encoder(self, out_dir: Path) -> None:
        """The encoder as a ``VideoMAEModel`` folder, with an ImageNet-normalising image processor."""
        from transformers import VideoMAEImageProcessor

        self.model.videomae.save_pretrained(out_dir)
        VideoMAEImageProcessor(
            size={"shortest_edge": self.size}, crop_size={"height": self.size, "width": self.size},
            image_mean=list(IMAGENET_DEFAULT_MEAN), image_std=list(IMAGENET_DEFAULT_STD),
        ).save_pretrained(out_dir)
        normalise = EXPORT_NORMALISE.format(mean=list(IMAGENET_DEFAULT_MEAN), std=list(IMAGENET_DEFAULT_STD))
        (out_dir / "README.md").write_text(self.export_readme(
            title="VideoMAE encoder", load=EXPORT_LOAD, normalise=normalise, encode=EXPORT_ENCODE,
            width=self.model.config.hidden_size,
        ))

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
