"""Typed config blocks for the objective tests, and the whole-config checks the objectives rely on."""

from __future__ import annotations

from devcurriculum.config import ClipConfig, ModelConfig, WorkflowConfig, model_config

# Another extractor than vit-random, so the checks of its ViT never fire before the model's.
_FEATURES = {"extractor": "dino", "model": "some/dino"}


def blocks(model: dict, clip: dict) -> tuple[ModelConfig, ClipConfig]:
    """The typed ``models.m`` and ``data.clip`` blocks of two plain mappings."""
    return model_config(model, where="models.m"), ClipConfig.from_mapping(clip)


def workflow_with(model: dict, clip: dict) -> WorkflowConfig:
    """A whole config with one model ``m``: runs the cross-block checks (clip tiling, head widths...)."""
    return WorkflowConfig.from_mapping({"data": {"clip": clip}, "features": _FEATURES, "models": {"m": model}})
