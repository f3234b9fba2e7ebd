"""V-JEPA: predict the target encoder's features of hidden blocks from a visible block (``objective: vjepa``).

Built on ``transformers``' VJEPA2 modules (``VJEPA2Config`` -> ``VJEPA2Model``, random init):

- context encoder: the model's ``VJEPA2Encoder`` (3-D RoPE ViT). ``VJEPA2Encoder.forward`` has no
  masking argument, so we run its parts ourselves: patch embedding of the whole input, keep the context
  tokens, then every ``VJEPA2Layer`` with ``position_mask`` = the kept token ids (the layers' RoPE reads
  each token's (t, h, w) from its id, so a subset of tokens keeps its true positions), then the final
  LayerNorm. That is the gap between the HF modules and training: nothing else is re-implemented.
- predictor: the model's ``VJEPA2Predictor``, unchanged. It expects full-length encoder states and
  gathers the context itself, so the context outputs are scattered back to their positions first
  (the zeros elsewhere are never read). One mask token (``pred_num_mask_tokens = 1``) so every
  trainable parameter receives a gradient (DDP without ``find_unused_parameters``).
- target encoder: our own ``deepcopy`` of the context encoder, ``requires_grad=False``, updated by EMA
  in :meth:`VJEPAObjective.after_step` with momentum linear from ``ema[0]`` to ``ema[1]`` over the run.
- targets: ``LayerNorm`` (no affine) of the target encoder's outputs on the whole input, at the target
  positions; loss: smooth-L1 between predictions and targets.

Inputs (``mode``):

- ``clip`` (default): the whole clip; its ``frames // tubelet_size`` temporal token slices are split
  into an earlier and a later half; the context block lives on the earlier half, targets on the later
  (``masks/multiblock.py``).
- ``pairs``: V-JEPA's frame pairs inside a clip: frame 0 and frame ``min(gap, T - 1)``, each repeated
  ``tubelet_size`` times so the pair is a two-slice video; context on frame 0, targets on the later frame.

``embed`` is the mean over tokens of the context encoder's last layer (after its LayerNorm) on the
full clip, no masking.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import VJEPA2Config, VJEPA2Model

from devcurriculum.masks.multiblock import MultiblockConfig, multiblock_masks
from devcurriculum.models.objective import Objective
from devcurriculum.models.registry import ModelConfig, rank_generator, token_shape

log = logging.getLogger("devcurriculum.models.vjepa")

DEFAULTS: dict[str, Any] = {
    "hidden_size": 96,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "mlp_ratio": 4.0,
    "patch_size": 8,
    "tubelet_size": 2,
    "pred_hidden_size": 48,
    "pred_num_hidden_layers": 2,
    "pred_num_attention_heads": 4,
    "pred_mlp_ratio": 4.0,
    "ema": [0.996, 1.0],
    "mode": "clip",
    "gap": 4,
    "masks": {},
}
MODES = ("clip", "pairs")


def ema_momentum(step: int, total_steps: int, ema: Sequence[float]) -> float:
    """Momentum after optimiser step ``step`` (0-based): ``ema0 + (ema1 - ema0) * step / total_steps``.

    This is V-JEPA's linear schedule (the i-th update uses the i-th value); clamped to ``ema1`` after
    the run's end.
    """
    start, end = float(ema[0]), float(ema[1])
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    frac = min(max(step, 0) / total_steps, 1.0)
    return start + (end - start) * frac


class VJEPAObjective(Objective):
    """V-JEPA pretraining objective; see the module docstring."""

    name = "vjepa"

    def __init__(self, model_cfg: Mapping[str, Any], clip_cfg: Mapping[str, Any]) -> None:
        super().__init__()
        cfg = ModelConfig(model_cfg, "vjepa", set(DEFAULTS))
        frames, size, self.patch_size, self.tubelet_size = token_shape(cfg, clip_cfg, DEFAULTS)
        self.mode = cfg.get("mode", DEFAULTS["mode"], str)
        if self.mode not in MODES:
            raise ValueError(f"vjepa model config key 'mode' must be one of {list(MODES)}, got {self.mode!r}")
        self.gap = cfg.positive_int("gap", DEFAULTS["gap"])
        if self.mode == "clip" and frames // self.tubelet_size < 2:
            raise ValueError(
                f"vjepa mode 'clip' needs at least 2 temporal slices: data.clip.frames={frames} with "
                f"tubelet_size={self.tubelet_size} gives {frames // self.tubelet_size}"
            )
        if self.mode == "pairs" and frames < 2:
            raise ValueError(f"vjepa mode 'pairs' needs clips of at least 2 frames, got data.clip.frames={frames}")
        ema = cfg.get("ema", DEFAULTS["ema"], lambda v: [float(x) for x in v])
        if len(ema) != 2 or not 0.0 <= ema[0] <= ema[1] <= 1.0:
            raise ValueError(f"vjepa model config key 'ema' must be [start, end] with 0 <= start <= end <= 1, got {ema}")
        self.ema = ema
        try:
            self.masks = MultiblockConfig.from_config(cfg.get("masks", DEFAULTS["masks"]))
        except ValueError as exc:
            raise ValueError(f"vjepa model config: {exc}") from None
        self.frames, self.size = frames, size
        self.grid = size // self.patch_size
        config = VJEPA2Config(
            patch_size=self.patch_size,
            crop_size=size,
            frames_per_clip=frames,
            tubelet_size=self.tubelet_size,
            hidden_size=cfg.positive_int("hidden_size", DEFAULTS["hidden_size"]),
            num_hidden_layers=cfg.positive_int("num_hidden_layers", DEFAULTS["num_hidden_layers"]),
            num_attention_heads=cfg.positive_int("num_attention_heads", DEFAULTS["num_attention_heads"]),
            mlp_ratio=cfg.get("mlp_ratio", DEFAULTS["mlp_ratio"], float),
            pred_hidden_size=cfg.positive_int("pred_hidden_size", DEFAULTS["pred_hidden_size"]),
            pred_num_hidden_layers=cfg.positive_int("pred_num_hidden_layers", DEFAULTS["pred_num_hidden_layers"]),
            pred_num_attention_heads=cfg.positive_int("pred_num_attention_heads", DEFAULTS["pred_num_attention_heads"]),
            pred_mlp_ratio=cfg.get("pred_mlp_ratio", DEFAULTS["pred_mlp_ratio"], float),
            pred_num_mask_tokens=1,
        )
        for width, heads, prefix in (
            (config.hidden_size, config.num_attention_heads, ""),
            (config.pred_hidden_size, config.pred_num_attention_heads, "pred_"),
        ):
            if width % heads or (width // heads) < 6:
                raise ValueError(
                    f"vjepa {prefix}hidden_size={width} must be divisible by {prefix}num_attention_heads={heads} "
                    "with a head width of at least 6 (3-D RoPE rotates 3 pairs of dimensions per head)"
                )
        model = VJEPA2Model(config)
        self.encoder = model.encoder
        self.predictor = model.predictor
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.mask_generator = rank_generator()
        n_params = sum(p.numel() for p in self.parameters() if p.requires_grad)
        log.info(
            "V-JEPA: mode %s, %dx%d patch grid, %.2fM trainable parameters, ema %s",
            self.mode, self.grid, self.grid, n_params / 1e6, self.ema,
        )

    # ---- resume support: the checkpoint code also finds ``mask_generator`` by attribute -------------
    def mask_rng_state(self) -> torch.Tensor:
        return self.mask_generator.get_state()

    def set_mask_rng_state(self, state: torch.Tensor) -> None:
        self.mask_generator.set_state(state)

    # ---- inputs and encoders --------------------------------------------------------------------------
    def _check(self, batch: torch.Tensor) -> None:
        expected = (self.frames, 3, self.size, self.size)
        if batch.ndim != 5 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"vjepa expects batches (B, {', '.join(map(str, expected))}), got {tuple(batch.shape)}")

    def pretext_input(self, batch: torch.Tensor) -> torch.Tensor:
        """The video the masks refer to: the clip (``clip``) or the two-slice frame pair (``pairs``)."""
        if self.mode == "clip":
            return batch
        later = min(self.gap, batch.shape[1] - 1)
        first = batch[:, :1].expand(-1, self.tubelet_size, -1, -1, -1)
        second = batch[:, later : later + 1].expand(-1, self.tubelet_size, -1, -1, -1)
        return torch.cat([first, second], dim=1)

    def encode_context(self, video: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Context-encoder outputs ``(B, K, D)`` for the tokens ``context`` ``(B, K)`` of ``video``."""
        tokens = self.encoder.embeddings(video)
        hidden = torch.gather(tokens, 1, context.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        for layer in self.encoder.layer:
            hidden = layer(hidden, context)[0]
        return self.encoder.layernorm(hidden)

    @torch.no_grad()
    def targets(self, video: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LayerNorm (no affine) of the target encoder's outputs at the ``target`` positions."""
        hidden = self.target_encoder(pixel_values_videos=video).last_hidden_state
        hidden = F.layer_norm(hidden, (hidden.shape[-1],))
        return torch.gather(hidden, 1, target.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))

    # ---- Objective ----------------------------------------------------------------------------------
    def forward(self, batch: torch.Tensor, step: int = 0) -> torch.Tensor:
        """The loss (so a ``DistributedDataParallel`` wrapper can be called directly)."""
        return self.loss(batch, step)

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        self._check(batch)
        video = self.pretext_input(batch)
        grid_t = video.shape[1] // self.tubelet_size
        context, target = multiblock_masks(video.shape[0], grid_t, self.grid, self.grid, self.masks, self.mask_generator)
        context, target = context.to(video.device), target.to(video.device)
        expected = self.targets(video, target)
        ctx_out = self.encode_context(video, context)
        n_tokens = grid_t * self.grid * self.grid
        # The HF predictor gathers the context from full-length encoder states itself.
        full = ctx_out.new_zeros(ctx_out.shape[0], n_tokens, ctx_out.shape[-1])
        full = full.scatter(1, context.unsqueeze(-1).expand(-1, -1, ctx_out.shape[-1]), ctx_out)
        predicted = self.predictor(encoder_hidden_states=full, context_mask=[context], target_mask=[target])
        return F.smooth_l1_loss(predicted.last_hidden_state, expected)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target encoder: ``target = m * target + (1 - m) * context_encoder``."""
        m = ema_momentum(step, total_steps, self.ema)
        for target_param, param in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            target_param.mul_(m).add_(param.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Mean over tokens of the context encoder on the full clip (DESIGN §6)."""
        self._check(batch)
        return self.encoder(pixel_values_videos=batch).last_hidden_state.mean(dim=1)

    def depth_groups(self) -> list[list[nn.Parameter]]:
        """[patch embedding], [encoder block 0], ..., [encoder block L-1], [encoder norm + predictor].

        The EMA target encoder is not trained and appears in no group.
        """
        groups: list[list[nn.Parameter]] = [list(self.encoder.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in self.encoder.layer]
        groups.append(list(self.encoder.layernorm.parameters()) + list(self.predictor.parameters()))
        return [[p for p in g if p.requires_grad] for g in groups]
