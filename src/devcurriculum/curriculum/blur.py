"""Blur curriculum (docs/algorithms.md §C): Gaussian-blurred clips early in training, over optimiser steps.

Two parts:

* :func:`apply_blur` blurs a batch of clips ``(B, T, C, H, W)`` with one σ per clip, the same for every
  frame of that clip (a blurred clip must stay a coherent video). The arithmetic follows torchvision's
  ``GaussianBlur`` (separable Gaussian, reflect padding) so results match
  ``torchvision.transforms.functional.gaussian_blur`` frame by frame; it runs as one depthwise
  convolution over the whole batch, with no Python loop over clips or frames.
* :class:`BlurSchedule` says, for each step, which σ each clip of a batch gets. The reference project
  had four inconsistent variants (fixed, linear proportion, linear σ, random σ) defined over epochs;
  here the variant is explicit in config and the schedule is defined over steps.

Blur is applied to float pixels in [0, 1] before normalisation (docs/architecture.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from devcurriculum.config import BlurConfig


def kernel_size_for(sigma: float) -> int:
    """The automatic kernel size for ``sigma``: 2·ceil(3σ)+1, at least 3 (always odd)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return max(3, 2 * math.ceil(3.0 * sigma) + 1)


def gaussian_kernel1d(
    kernel_size: int, sigma: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Normalised 1-D Gaussian weights on the integer offsets -(k//2) … k//2 (torchvision's kernel).

    Size 5, σ = 1 gives [0.05449, 0.24420, 0.40262, 0.24420, 0.05449] (docs/algorithms.md §C, "Gaussian kernel").
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 for a Gaussian kernel, got {sigma}")
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, kernel_size, dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return (weights / weights.sum()).to(dtype)


def _kernel_bank(sigmas: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """One normalised 1-D kernel per σ, all ``kernel_size`` long: (n, kernel_size), float64.

    A clip whose own kernel is shorter gets zero weights at the outer taps. Reflect padding maps an
    out-of-range index to the same pixel whatever the pad width, so padding every clip to the largest
    kernel leaves each clip's result identical to blurring it with its own, smaller kernel.
    """
    half = (kernel_size - 1) // 2
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    s = sigmas.to(torch.float64).unsqueeze(1)
    own_half = torch.tensor([(kernel_size_for(float(v)) - 1) // 2 for v in sigmas.tolist()], dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / s) ** 2)
    weights = torch.where(x.abs().unsqueeze(0) <= own_half.unsqueeze(1), weights, torch.zeros_like(weights))
    return weights / weights.sum(dim=1, keepdim=True)


def apply_blur(
    clips: torch.Tensor,
    sigmas: torch.Tensor | float | np.ndarray,
    kernel_size: int | None = None,
) -> torch.Tensor:
    """Blur each clip of ``clips`` (float, ``(B, T, C, H, W)``) with its own σ, identically on every frame.

    ``sigmas`` holds one σ per clip (a scalar applies to all); σ = 0 leaves a clip untouched.
    ``kernel_size`` (odd) fixes the kernel for every clip; ``None`` uses 2·ceil(3σ)+1 per clip.
    Returns a new tensor; the input is not modified.
    """
    if clips.ndim != 5:
        raise ValueError(f"clips must be (B, T, C, H, W), got shape {tuple(clips.shape)}")
    if not clips.is_floating_point():
        raise TypeError(f"clips must be a float tensor (pixels in [0, 1]), got {clips.dtype}")
    b, t, c, h, w = clips.shape
    sig = torch.as_tensor(sigmas, dtype=torch.float64).flatten().cpu()
    if sig.numel() == 1 and b != 1:
        sig = sig.expand(b)
    if sig.numel() != b:
        raise ValueError(f"need one sigma per clip: {sig.numel()} sigmas for {b} clips")
    if bool((sig < 0).any()) or not bool(torch.isfinite(sig).all()):
        raise ValueError(f"sigmas must be finite and >= 0, got {sig.tolist()}")
    if kernel_size is not None and (kernel_size < 1 or kernel_size % 2 == 0):
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")

    out = clips.clone()
    active = torch.nonzero(sig > 0).flatten()
    if active.numel() == 0:
        return out
    act_sig = sig[active]
    if kernel_size is None:
        size = max(kernel_size_for(float(s)) for s in act_sig.tolist())
        bank = _kernel_bank(act_sig, size)
    else:
        size = kernel_size
        bank = torch.stack([gaussian_kernel1d(size, float(s), torch.float64) for s in act_sig.tolist()])
    pad = size // 2
    if pad >= h or pad >= w:
        raise ValueError(
            f"kernel size {size} needs a reflect pad of {pad} pixels, which must be smaller than the "
            f"frame ({h}x{w}); use a smaller blur sigma or kernel_size"
        )

    n = active.numel()
    idx = active.to(clips.device, non_blocking=True)  # a small pageable copy: no device sync
    # (n, T, C, H, W) -> (T, n*C, H, W): frames become the conv batch, each clip's channels a group
    # that shares that clip's kernel.
    x = clips.index_select(0, idx).permute(1, 0, 2, 3, 4).reshape(t, n * c, h, w)
    kernels = bank.to(device=clips.device, dtype=clips.dtype, non_blocking=True).repeat_interleave(c, dim=0)
    x = F.pad(x, [pad, pad, pad, pad], mode="reflect")
    x = F.conv2d(x, kernels.view(n * c, 1, 1, size), groups=n * c)  # along W
    x = F.conv2d(x, kernels.view(n * c, 1, size, 1), groups=n * c)  # along H
    out[idx] = x.reshape(t, n, c, h, w).permute(1, 0, 2, 3, 4)
    return out


@dataclass(frozen=True)
class BlurState:
    """What the blur curriculum does at one step (logged per step in metrics.parquet).

    ``sigma`` is the σ of blurred clips (the mean σ for ``random_sigma``), ``prob`` the probability
    that a clip is blurred, ``kernel_size`` the kernel used (0 when nothing is blurred).
    """

    sigma: float
    prob: float
    kernel_size: int
    variant: str


@dataclass(frozen=True)
class BlurSchedule:
    """A blur curriculum (a validated ``blur`` block) over ``total_steps`` optimiser steps.

    Blur happens during the first :attr:`blur_steps` (B) steps: ``until_fraction × total_steps``
    rounded half up, at least 1; integer B keeps the level boundaries of ``linear_sigma`` exact.
    """

    config: BlurConfig
    total_steps: int

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"blur needs total_steps >= 1, got {self.total_steps}")

    @classmethod
    def from_config(cls, cfg: BlurConfig, total_steps: int) -> BlurSchedule:
        """The schedule of a curriculum's ``blur`` block over a run of ``total_steps`` steps."""
        return cls(cfg, int(total_steps))

    @property
    def blur_steps(self) -> int:
        return max(1, math.floor(self.config.until_fraction * self.total_steps + 0.5))

    @property
    def variant(self) -> str:
        return self.config.variant

    @property
    def kernel_size(self) -> int | None:
        """The fixed kernel size, or None for 2·ceil(3σ)+1 per clip."""
        return self.config.kernel_size

    def _kernel(self, sigma: float) -> int:
        return self.kernel_size if self.kernel_size is not None else kernel_size_for(sigma)

    def level_sigma(self, step: int) -> float:
        """``linear_sigma``: σ_max·(1 − e/levels), e = the level index of ``step`` (levels evenly over B)."""
        levels = self.config.levels
        level = (step * levels) // self.blur_steps
        return self.config.sigma_max * (1.0 - level / levels)

    def at(self, step: int) -> BlurState:
        """The blur applied at ``step`` (σ = 0, prob = 0 once the blur phase is over)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        cfg, none = self.config, BlurState(0.0, 0.0, 0, self.variant)
        if step >= self.blur_steps:
            return none
        if cfg.variant == "fixed":
            return BlurState(cfg.sigma, 1.0, self._kernel(cfg.sigma), self.variant)
        if cfg.variant == "linear_proportion":
            prob = 1.0 - step / self.blur_steps
            return BlurState(cfg.sigma, prob, self._kernel(cfg.sigma), self.variant)
        if cfg.variant == "linear_sigma":
            sigma = self.level_sigma(step)
            # The reference blurs only while σ exceeds a threshold (0.1); tiny σ is a no-op anyway.
            if sigma <= cfg.sigma_min:
                return none
            return BlurState(sigma, 1.0, self._kernel(sigma), self.variant)
        mean = 0.5 * (cfg.sigma_min + cfg.sigma_max)
        return BlurState(mean, 1.0, self._kernel(mean), self.variant)

    def sample(self, step: int, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-clip σ for a batch at ``step`` (float64, 0 = not blurred).

        Random numbers are drawn only during the blur phase of the stochastic variants, so the
        generator's stream is a pure function of the step sequence (bit-identical on resume).
        """
        state = self.at(step)
        if state.prob == 0.0:
            return torch.zeros(batch_size, dtype=torch.float64)
        if self.variant == "linear_proportion":
            hit = torch.rand(batch_size, generator=generator, dtype=torch.float64) < state.prob
            return torch.where(hit, torch.tensor(state.sigma, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
        if self.variant == "random_sigma":
            u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
            return self.config.sigma_min + (self.config.sigma_max - self.config.sigma_min) * u
        return torch.full((batch_size,), state.sigma, dtype=torch.float64)

    def table(self) -> np.ndarray:
        """``(total_steps, 2)`` float64 array of (σ, prob) per step — for previews and plots."""
        rows = [self.at(s) for s in range(self.total_steps)]
        return np.array([(r.sigma, r.prob) for r in rows], dtype=np.float64).reshape(-1, 2)


def blur_schedule(variant: str, total_steps: int, **params: Any) -> np.ndarray:
    """Public convenience (docs/architecture.md "Public Python API"): ``(total_steps, 2)`` array of (σ, prob) per step.

    ``params`` are the keys of the ``blur`` config block other than ``variant`` (sigma, sigma_min,
    sigma_max, kernel_size, until_fraction, levels); missing ones take the schema defaults and an
    unknown or invalid one is an error naming the key.
    """
    cfg = BlurConfig.from_mapping({"variant": variant, **params}, where="blur")
    return BlurSchedule.from_config(cfg, total_steps).table()
