"""Build an objective from its typed ``models.<name>`` block and the clip shape (``data.clip``).

The objective modules are imported lazily: building a SimCLR model should not import ``transformers``,
and building a VideoMAE model should not import ``torchvision``.
"""

from __future__ import annotations

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
