"""Build an objective from its ``models.<name>`` config block and the clip shape (``data.clip``).

The objective modules are imported lazily: building a SimCLR model should not import ``transformers``,
and the masks/losses helpers stay importable without torchvision.

Also home of the small helpers every objective uses while it is being built: reading config keys with
defaults (errors name the key) and the per-rank mask/augmentation generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from devcurriculum.models.objective import Objective

OBJECTIVES = ("videomae", "vjepa", "simclr")
RANK_SEED_STRIDE = 1000


class ModelConfig:
    """Read-only view of a ``models.<name>`` block that names the objective and key in every error."""

    def __init__(self, cfg: Mapping[str, Any], objective: str, allowed: set[str]) -> None:
        self.cfg = dict(cfg)
        self.objective = objective
        unknown = sorted(set(self.cfg) - allowed - {"objective"})
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in the {objective} model config; known keys: {sorted(allowed)}"
            )

    def get(self, key: str, default: Any, kind: Callable[[Any], Any] = lambda v: v) -> Any:
        value = self.cfg.get(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.objective} model config key {key!r} has an invalid value {value!r}: {exc}") from None

    def positive_int(self, key: str, default: int) -> int:
        value = self.get(key, default, int)
        if value < 1:
            raise ValueError(f"{self.objective} model config key {key!r} must be >= 1, got {value}")
        return value


def clip_shape(clip_cfg: Mapping[str, Any]) -> tuple[int, int]:
    """``(frames, size)`` of the clips the model will see (``data.clip.frames``, ``data.clip.size``)."""
    try:
        frames, size = int(clip_cfg["frames"]), int(clip_cfg["size"])
    except KeyError as exc:
        raise ValueError(f"data.clip is missing key {exc.args[0]!r} needed to build the model") from None
    if frames < 1 or size < 1:
        raise ValueError(f"data.clip.frames and data.clip.size must be >= 1, got {frames}, {size}")
    return frames, size


def token_shape(cfg: ModelConfig, clip_cfg: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """``(frames, size, patch_size, tubelet_size)`` of a ViT-style video model, checked against the clip.

    The clip must tile exactly into patches and tubelets; the error names both config keys.
    """
    frames, size = clip_shape(clip_cfg)
    patch = cfg.positive_int("patch_size", defaults["patch_size"])
    tubelet = cfg.positive_int("tubelet_size", defaults["tubelet_size"])
    if size % patch:
        raise ValueError(f"data.clip.size={size} is not a multiple of {cfg.objective} patch_size={patch}")
    if frames % tubelet:
        raise ValueError(f"data.clip.frames={frames} is not a multiple of {cfg.objective} tubelet_size={tubelet}")
    return frames, size, patch, tubelet


def current_rank() -> int:
    """This process's rank: the process group's if joined, else the launcher's environment, else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    from devcurriculum.utils.distributed import discover_rank

    return discover_rank().rank


def rank_generator() -> torch.Generator:
    """A CPU generator for masks/augmentations, different on every rank, reproducible from the caller's seed.

    The base seed is one draw from the global torch RNG (so ``torch.manual_seed`` before building the
    objective fixes it, identically on every rank), offset by ``RANK_SEED_STRIDE * rank`` so ranks draw
    different masks. The generator is stored as a plain module attribute: the checkpoint code saves and
    restores every ``torch.Generator`` attribute of the objective, which makes resume exact.
    """
    base = int(torch.randint(0, 2**31 - 1, ()).item())
    gen = torch.Generator()
    gen.manual_seed(base + RANK_SEED_STRIDE * current_rank())
    return gen


def build_objective(model_cfg: dict, clip_cfg: dict) -> Objective:
    """The objective named by ``model_cfg["objective"]`` (videomae, vjepa or simclr), randomly initialised."""
    name = model_cfg.get("objective")
    if name == "videomae":
        from devcurriculum.models.videomae import VideoMAEObjective

        return VideoMAEObjective(model_cfg, clip_cfg)
    if name == "vjepa":
        from devcurriculum.models.vjepa import VJEPAObjective

        return VJEPAObjective(model_cfg, clip_cfg)
    if name == "simclr":
        from devcurriculum.models.simclr import SimCLRObjective

        return SimCLRObjective(model_cfg, clip_cfg)
    raise ValueError(f"models.<name>.objective must be one of {list(OBJECTIVES)}, got {name!r}")
