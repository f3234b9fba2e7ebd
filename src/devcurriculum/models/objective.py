"""The contract between the one training loop and every self-supervised objective."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class StepContext:
    """What the curriculum is doing at one optimiser step (objectives may adapt to it, e.g. SimCLR's gap).

    ``stage_step`` / ``stage_steps``: the step's place in its block of ``pretrain.steps_per_stage`` steps
    (a stage of an ordered curriculum, an equal share of a ``mixed`` run's one stage) and that block's
    length: the period every per-stage schedule restarts on (``lr_schedule: per_stage``, V-JEPA's
    ``ema_schedule: restart``), so ordered and mixed runs get the same schedules.
    """

    step: int
    total_steps: int
    stage: int
    stage_step: int
    stage_steps: int
    pool: tuple[str, ...]
    effective_fraction: float
    temperature: float
    blur_sigma: float


class Objective(nn.Module, metaclass=abc.ABCMeta):
    """A self-supervised learner the training loop can drive.

    Batches are float32 ``(B, T, C, H, W)`` tensors, already normalised ((x - 0.5) / 0.25).
    Subclasses implement :meth:`loss`, :meth:`embed` and :meth:`depth_groups`.
    """

    name: str = "objective"

    def forward(self, batch: torch.Tensor, step: int = 0) -> torch.Tensor:
        """The loss (so a ``DistributedDataParallel`` wrapper can be called directly)."""
        return self.loss(batch, step)

    @abc.abstractmethod
    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        """Scalar training loss of one (per-rank) batch at optimiser step ``step``."""

    @abc.abstractmethod
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` evaluation embeddings (docs/evaluation.md "Embeddings"); implementations run under ``torch.no_grad``."""

    #: Seconds of source video between the frames the embedding pairs (V-JEPA ``pairs`` mode with
    #: ``gap_seconds``), or None when the embedding does not depend on the clips' frame rate.
    embed_gap_seconds: float | None = None

    def embed_clips(self, batch: torch.Tensor, clip_fps: np.ndarray | None = None) -> torch.Tensor:
        """:meth:`embed` of clips whose frame rate is known per item (``clip_fps``, NaN: unknown).

        Only objectives with :attr:`embed_gap_seconds` read the rates; the others call :meth:`embed`.
        """
        return self.embed(batch)

    @abc.abstractmethod
    def depth_groups(self) -> list[list[nn.Parameter]]:
        """Trainable parameters grouped by depth, input side first (LeRaC assigns rates by this order).

        Every trainable parameter appears in exactly one group.
        """

    @abc.abstractmethod
    def export_encoder(self, out_dir: Path) -> None:
        """Write the trained encoder to the (empty) folder ``out_dir`` in its library's own form.

        transformers models: a ``save_pretrained`` folder that ``AutoModel.from_pretrained`` loads;
        torchvision models: a safetensors state dict. Plus a ``README.md`` saying how to load it and
        how to normalise its input, so a trained model can leave the tool.
        """

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook run after each optimiser step (e.g. the EMA target update of V-JEPA)."""

    def set_step_context(self, context: StepContext) -> None:
        """Per-step curriculum values an objective may use (e.g. SimCLR's frame gap per stage)."""
