"""Build an objective from its typed ``models.<name>`` block and the clip shape (``data.clip``).

The objective modules are imported lazily: building a SimCLR model should not import ``transformers``,
and building a VideoMAE model should not import ``torchvision``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from devcurriculum.config import ClipConfig, ModelConfig, SimCLRModelConfig, VideoMAEModelConfig, VJEPAModelConfig
from devcurriculum.models.objective import Objective


def build_objective(model: ModelConfig, clip: ClipConfig) -> Objective:
    """The objective ``model`` describes (VideoMAE, V-JEPA or SimCLR), randomly initialised.

    The initial weights and the objective's generator come from the global torch RNG: seed it first.
    """
    if isinstance(model, VideoMAEModelConfig):
        from devcurriculum.models.videomae import VideoMAEObjective

        return VideoMAEObjective(model, clip)
    if isinstance(model, VJEPAModelConfig):
        from devcurriculum.models.vjepa import VJEPAObjective

        return VJEPAObjective(model, clip)
    if isinstance(model, SimCLRModelConfig):
        from devcurriculum.models.simclr import SimCLRObjective

        return SimCLRObjective(model, clip)
    raise TypeError(
        f"build_objective needs a typed model block (devcurriculum.config.model_config(mapping)), got {type(model).__name__}"
    )


#: the objectives' module loggers (devcurriculum.models.videomae, .vjepa, .simclr) inherit this level
_MODELS_LOG = logging.getLogger("devcurriculum.models")


@contextlib.contextmanager
def _construction_log_at_debug() -> Iterator[None]:
    previous = _MODELS_LOG.level
    if _MODELS_LOG.getEffectiveLevel() < logging.WARNING:
        _MODELS_LOG.setLevel(logging.WARNING)
    try:
        yield
    finally:
        _MODELS_LOG.setLevel(previous)


def build_network_objective(model: ModelConfig, clip: ClipConfig) -> Objective:
    """:func:`build_objective` for a job whose config carries only the network (init_model, embed,
    surprise): the same network and initial weights, without the objective's construction line.

    Such a job gets only the keys its numbers depend on (the network, plus the pretext keys the surprise
    reads), so every other pretext key is the schema's default, not what a run trained with, and the
    construction line, which names masks, EMA and mask ratio, would name those defaults. The job logs
    :func:`describe_network` instead.
    """
    with _construction_log_at_debug():
        return build_objective(model, clip)


def describe_network(model: ModelConfig, objective: Objective) -> str:
    """One log line: the learner, its network keys and its parameter count."""
    keys = ", ".join(f"{k} {v}" for k, v in model.network().items() if k != "objective")
    n_params = sum(p.numel() for p in objective.parameters())
    return f"{type(objective).__name__} network ({n_params / 1e6:.2f}M parameters): {keys}"
