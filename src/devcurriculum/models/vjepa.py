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
  in :meth:`VJEPAObjective.after_step` with momentum linear from ``ema[0]`` to ``ema[1]``, over the run
  (``ema_schedule: run``) or over every block of ``pretrain.steps_per_stage`` steps (``restart``, the
  seed study's per-stage runs; the block comes from :class:`StepContext`).
- targets: ``LayerNorm`` (no affine) of the target encoder's outputs on the whole input, at the target
  positions; loss: smooth-L1 (``loss: smooth_l1``, the seed study) or L1 (``l1``, facebookresearch/jepa)
  between predictions and targets, averaged over the mask sets (``masks/multiblock.py``: one set for
  ``masks.kind: seed_2frame``, one per ``masks.blocks3d`` entry for ``multiblock3d``).
- predictor passes (``masks.predictor``, ``seed_2frame``): ``union`` runs the predictor once on the
  context plus the mask tokens of the union of the target blocks; ``per_target`` (the seed study)
  encodes the context once and runs the predictor once per target block with that context repeated,
  so the mask tokens of one block never attend to another's; the loss is the mean over blocks of the
  distance (the seed study's mean over all predicted elements: its blocks have equal sizes).

Inputs (``mode``):

- ``clip`` (default): the whole clip of ``frames // tubelet_size`` temporal token slices.
- ``pairs``: V-JEPA's frame pairs inside a clip: frame 0 and frame ``min(gap, T - 1)``, each repeated
  ``tubelet_size`` times so the pair is a two-slice video.

``seed_2frame`` masks put the context on the earlier half of the slices (frame 0 of a pair) and the
targets on the later half, the targets' spatial positions removed from the context; ``multiblock3d``
masks are tubes through every slice with the context their complement.

``embed`` pools the context encoder's last layer (after its LayerNorm) on the model's input without
masking: the full clip (``clip``) or the same two-frame video as training (``pairs``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import VJEPA2Config, VJEPA2Model

from devcurriculum.config import ClipConfig, VJEPAModelConfig, gap_seconds_list
from devcurriculum.masks.multiblock import multiblock_masks, per_target_masks
from devcurriculum.models.common import ATTENTION, rank_generator
from devcurriculum.models.objective import StepContext
from devcurriculum.models.video_objective import MaskedVideoObjective

log = logging.getLogger("devcurriculum.models.vjepa")


def ema_momentum(step: int, total_steps: int, ema: Sequence[float]) -> float:
    """Momentum after optimiser step ``step`` (0-based): ``ema0 + (ema1 - ema0) * step / total_steps``.

    This is V-JEPA's linear schedule (the i-th update uses the i-th value); clamped to ``ema1`` after
    the end. With ``ema_schedule: restart`` ``step`` and ``total_steps`` are the step within its stage
    block and the block's length.
    """
    start, end = float(ema[0]), float(ema[1])
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    frac = min(max(step, 0) / total_steps, 1.0)
    return start + (end - start) * frac


def vjepa2_config(model: VJEPAModelConfig, clip: ClipConfig) -> VJEPA2Config:
    """The ``transformers`` config of encoder and predictor: the block's sizes on clips of ``data.clip``.

    One mask token (``pred_num_mask_tokens = 1``) so every trainable parameter receives a gradient.
    """
    return VJEPA2Config(
        patch_size=model.patch_size,
        crop_size=clip.size,
        frames_per_clip=clip.frames,
        tubelet_size=model.tubelet_size,
        hidden_size=model.hidden_size,
        num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads,
        mlp_ratio=model.mlp_ratio,
        pred_hidden_size=model.pred_hidden_size,
        pred_num_hidden_layers=model.pred_num_hidden_layers,
        pred_num_attention_heads=model.pred_num_attention_heads,
        pred_mlp_ratio=model.pred_mlp_ratio,
        pred_num_mask_tokens=1,
        attn_implementation=ATTENTION,  # type: ignore[call-arg]  # PretrainedConfig takes it via **kwargs
    )


#: the loading and input lines of the export README (models/video_objective.py renders the rest)
EXPORT_LOAD = (
    "from transformers import AutoModel\n"
    'model = AutoModel.from_pretrained("<this folder>").eval()  # a VJEPA2Model (encoder + predictor)'
)
EXPORT_NORMALISE = "videos = (x - 0.5) / 0.25  # the training input's normalisation"
#: mode: pairs: the embedding's input is frame 0 and frame ``gap``, each repeated tubelet_size times
EXPORT_PAIR = (
    "\nvideos = torch.cat([videos[:, :1].expand(-1, {tubelet}, -1, -1, -1),"
    " videos[:, {later}:{later_end}].expand(-1, {tubelet}, -1, -1, -1)], dim=1)"
    "  # mode pairs: frames 0 and {later}"
)
EXPORT_ENCODE = "tokens = model.encoder(pixel_values_videos=videos).last_hidden_state"
EXPORT_GAP_SECONDS_NOTE = (
    "\nWith `gap_seconds` devcurriculum pairs frame 0 with the frame {seconds:g} s later in each clip's own frame"
    " rate (round(gap_seconds x clip fps), clamped to the clip); the snippet shows the fallback of clips of"
    " unknown rate, frame {later}.\n"
)


class VJEPAObjective(MaskedVideoObjective):
    """V-JEPA pretraining objective; see the module docstring."""

    name = "vjepa"

    def __init__(self, model: VJEPAModelConfig, clip: ClipConfig) -> None:
        super().__init__(model, clip)
        self.mode = model.mode
        self.gap = model.gap
        # gap_seconds: training batches are frame pairs across a video (B, 2, C, H, W), the gap already taken
        self.pairs_across_video = model.pairs_across_video
        # the embedding pairs frames the last stage's gap apart, in seconds of the benchmark clip
        self.embed_gap_seconds = gap_seconds_list(model.gap_seconds)[-1] if model.pairs_across_video else None
        self.ema = model.ema
        self.ema_schedule = model.ema_schedule
        self.masks = model.masks
        self.distance = F.smooth_l1_loss if model.loss == "smooth_l1" else F.l1_loss
        self.step_context: StepContext | None = None
        self.hf_config = vjepa2_config(model, clip)
        network = VJEPA2Model(self.hf_config)
        self.encoder = network.encoder
        self.predictor = network.predictor
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.mask_generator = rank_generator()
        n_params = sum(p.numel() for p in self.parameters() if p.requires_grad)
        log.info(
            "V-JEPA: mode %s, %s masks (%s predictor), %s loss, %dx%d patch grid, %.2fM trainable parameters, ema %s (%s)",
            self.mode, self.masks.kind, self.masks.predictor, model.loss, self.grid, self.grid, n_params / 1e6, list(self.ema),
            self.ema_schedule,
        )

    @property
    def embed_slices(self) -> int:
        """Temporal token slices of the embedding's input: the clip's, or 2 for a frame pair (``pairs``)."""
        return 2 if self.mode == "pairs" else self.temporal_slices

    # ---- inputs and encoders --------------------------------------------------------------------------
    def pretext_input(self, batch: torch.Tensor, later: int | torch.Tensor | None = None) -> torch.Tensor:
        """The video the masks refer to: the clip (``clip``) or the two-slice frame pair (``pairs``).

        The pair is frame 0 and frame ``later`` (default ``min(gap, T - 1)``: a pair inside a clip), one
        index for the batch or one per clip (a ``(B,)`` integer tensor).
        """
        if self.mode == "clip":
            return batch
        later = min(self.gap, batch.shape[1] - 1) if later is None else later
        first = batch[:, :1].expand(-1, self.tubelet_size, -1, -1, -1)
        if isinstance(later, torch.Tensor):
            picked = batch[torch.arange(batch.shape[0], device=batch.device), later.to(batch.device)].unsqueeze(1)
        else:
            picked = batch[:, later : later + 1]
        second = picked.expand(-1, self.tubelet_size, -1, -1, -1)
        return torch.cat([first, second], dim=1)

    def embed_later(self, frames: int, clip_fps: np.ndarray) -> np.ndarray:
        """Per clip, the frame paired with frame 0 by the embedding with ``gap_seconds`` (int64 ``(B,)``).

        ``round(gap_seconds * clip fps)`` (halves up) clamped to ``1 .. frames - 1``; a clip of unknown
        rate (NaN) falls back on ``gap`` clip frames, as without ``gap_seconds``.
        """
        if self.embed_gap_seconds is None:
            raise ValueError("embed_later needs gap_seconds")
        top = max(frames - 1, 0)
        fallback = min(self.gap, top)
        fps = np.asarray(clip_fps, dtype=np.float64)
        known = np.isfinite(fps) & (fps > 0)
        wanted = np.floor(self.embed_gap_seconds * np.where(known, fps, 0.0) + 0.5)
        return np.where(known, np.clip(wanted, min(1, top), top), fallback).astype(np.int64)

    def encode_context(self, video: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Context-encoder outputs ``(B, K, D)`` for the tokens ``context`` ``(B, K)`` of ``video``."""
        tokens = self.encoder.embeddings(video)
        hidden = torch.gather(tokens, 1, context.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        for layer in self.encoder.layer:
            hidden = layer(hidden, context)[0]
        return self.encoder.layernorm(hidden)

    @torch.no_grad()
    def target_features(self, video: torch.Tensor) -> torch.Tensor:
        """LayerNorm (no affine) of the target encoder's outputs on every token ``(B, N, D)``."""
        hidden = self.target_encoder(pixel_values_videos=video).last_hidden_state
        return F.layer_norm(hidden, (hidden.shape[-1],))

    def predict(self, video: torch.Tensor, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The predictor's outputs ``(B, K_target, D)`` at ``target`` from the context tokens ``context``."""
        return self._run_predictor(self.encode_context(video, context), self._n_tokens(video), context, target)

    def predict_per_target(
        self, video: torch.Tensor, context: torch.Tensor, targets: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """One predictor pass per target block, the context encoded once and repeated (the seed study).

        Returns the ``(B, K_k, D)`` predictions of every block. Blocks of equal size go through the
        predictor as one batch of ``len(targets) * B`` sequences (block-major, as the reference
        concatenates them); each sequence is its own attention problem, so this equals a pass per block.
        """
        ctx_out = self.encode_context(video, context)
        n_tokens = self._n_tokens(video)
        if len({tuple(t.shape) for t in targets}) == 1:
            k = len(targets)
            both = self._run_predictor(ctx_out.repeat(k, 1, 1), n_tokens, context.repeat(k, 1), torch.cat(list(targets)))
            return list(both.chunk(k))
        return [self._run_predictor(ctx_out, n_tokens, context, target) for target in targets]

    def _n_tokens(self, video: torch.Tensor) -> int:
        return (video.shape[1] // self.tubelet_size) * self.grid * self.grid

    def _run_predictor(
        self, ctx_out: torch.Tensor, n_tokens: int, context: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        # The HF predictor gathers the context from full-length encoder states itself.
        full = ctx_out.new_zeros(ctx_out.shape[0], n_tokens, ctx_out.shape[-1])
        full = full.scatter(1, context.unsqueeze(-1).expand(-1, -1, ctx_out.shape[-1]), ctx_out)
        return self.predictor(encoder_hidden_states=full, context_mask=[context], target_mask=[target]).last_hidden_state

    # ---- Objective ----------------------------------------------------------------------------------
    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        """The mean over mask sets of the distance between predicted and target features."""
        if self.pairs_across_video:  # frame pairs across a video: frames 0 and 1
            self.check_batch(batch, 2)
            video = self.pretext_input(batch, later=1)
        else:
            self.check_batch(batch)
            video = self.pretext_input(batch)
        grid_t = video.shape[1] // self.tubelet_size
        if self.masks.predictor == "per_target":
            return self._per_target_loss(video, grid_t)
        mask_sets = multiblock_masks(video.shape[0], grid_t, self.grid, self.grid, self.masks, self.mask_generator)
        features = self.target_features(video)
        losses = []
        for context, target in mask_sets:
            context, target = context.to(video.device), target.to(video.device)
            expected = torch.gather(features, 1, target.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
            losses.append(self.distance(self.predict(video, context, target), expected))
        return torch.stack(losses).mean()

    def _per_target_loss(self, video: torch.Tensor, grid_t: int) -> torch.Tensor:
        """The mean over target blocks of the distance of each block's own predictor pass."""
        context, targets = per_target_masks(video.shape[0], grid_t, self.grid, self.grid, self.masks, self.mask_generator)
        context, targets = context.to(video.device), [t.to(video.device) for t in targets]
        features = self.target_features(video)
        losses = []
        for predicted, target in zip(self.predict_per_target(video, context, targets), targets, strict=True):
            expected = torch.gather(features, 1, target.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
            losses.append(self.distance(predicted, expected))
        return torch.stack(losses).mean()

    def set_step_context(self, context: StepContext) -> None:
        """Remember the step's stage block: ``ema_schedule: restart`` reads it in :meth:`after_step`."""
        self.step_context = context

    def momentum(self, step: int, total_steps: int) -> float:
        """The EMA momentum of the update after ``step``: over the run, or over the step's stage block."""
        if self.ema_schedule == "run":
            return ema_momentum(step, total_steps, self.ema)
        ctx = self.step_context
        if ctx is None or ctx.step != step:
            raise RuntimeError(
                f"ema_schedule 'restart' needs the StepContext of step {step} (set_step_context before after_step)"
            )
        return ema_momentum(ctx.stage_step, ctx.stage_steps, self.ema)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target encoder: ``target = m * target + (1 - m) * context_encoder``."""
        m = self.momentum(step, total_steps)
        for target_param, param in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            target_param.mul_(m).add_(param.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """The context encoder's tokens on the training input (clip or frame pair), pooled by ``embedding``.

        The pair is clip frames 0 and ``gap`` (see :meth:`embed_clips` for pairs ``gap_seconds`` apart).
        """
        self.check_batch(batch)
        return self.pool_tokens(self.encoder(pixel_values_videos=self.pretext_input(batch)).last_hidden_state)

    @torch.no_grad()
    def embed_clips(self, batch: torch.Tensor, clip_fps: np.ndarray | None = None) -> torch.Tensor:
        """With ``gap_seconds`` and known clip rates: the pair of frame 0 and :meth:`embed_later` per clip."""
        if self.embed_gap_seconds is None or clip_fps is None:
            return self.embed(batch)
        self.check_batch(batch)
        later = torch.from_numpy(self.embed_later(batch.shape[1], clip_fps))
        return self.pool_tokens(self.encoder(pixel_values_videos=self.pretext_input(batch, later)).last_hidden_state)

    def export_encoder(self, out_dir: Path) -> None:
        """Context encoder and predictor as one ``VJEPA2Model`` folder (the EMA target is training state)."""
        network = VJEPA2Model(self.hf_config)
        network.encoder.load_state_dict(self.encoder.state_dict())
        network.predictor.load_state_dict(self.predictor.state_dict())
        network.save_pretrained(out_dir)
        normalise, note = EXPORT_NORMALISE, ""
        if self.mode == "pairs":
            later = min(self.gap, self.frames - 1)
            normalise += EXPORT_PAIR.format(tubelet=self.tubelet_size, later=later, later_end=later + 1)
            if self.embed_gap_seconds is not None:
                note = EXPORT_GAP_SECONDS_NOTE.format(seconds=self.embed_gap_seconds, later=later)
        (out_dir / "README.md").write_text(self.export_readme(
            title="V-JEPA encoder (+ predictor)", load=EXPORT_LOAD, normalise=normalise, encode=EXPORT_ENCODE,
            width=self.hf_config.hidden_size, note=note,
        ))

    def depth_groups(self) -> list[list[nn.Parameter]]:
        """[patch embedding], [encoder block 0], ..., [encoder block L-1], [encoder norm + predictor].

        The EMA target encoder is not trained and appears in no group.
        """
        groups: list[list[nn.Parameter]] = [list(self.encoder.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in self.encoder.layer]
        groups.append(list(self.encoder.layernorm.parameters()) + list(self.predictor.parameters()))
        return [[p for p in g if p.requires_grad] for g in groups]
