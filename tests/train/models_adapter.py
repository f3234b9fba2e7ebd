"""Local stand-in until the models branch lands: ``build_objective(model: ModelConfig, clip: ClipConfig)``.

The training entry point calls the registry with typed blocks (the shared contract of the config
migration). While ``devcurriculum.models.registry.build_objective`` still takes plain dicts
(parameters ``model_cfg, clip_cfg``), :func:`install` wraps it to accept the blocks; once the typed
registry is in place it does nothing. Delete this file after the merge.
"""

from __future__ import annotations

import inspect
from typing import Any


def install() -> None:
    from devcurriculum.models import registry

    if list(inspect.signature(registry.build_objective).parameters) != ["model_cfg", "clip_cfg"]:
        return
    dict_registry = registry.build_objective

    def build_objective(model: Any, clip: Any) -> Any:
        # dicts pass through: train.init (another branch's) still calls the registry with them
        return dict_registry(*(block.to_dict() if hasattr(block, "to_dict") else block for block in (model, clip)))

    registry.build_objective = build_objective  # type: ignore[assignment]
