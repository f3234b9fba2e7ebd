"""``voe``: violation-of-expectation sets (``voe.sets.<name>``, chosen by ``source``) and the surprise settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.models import ModelConfig, SimCLRModelConfig, VideoMAEModelConfig, VJEPAModelConfig
from devcurriculum.config.schema import ConfigError

#: the physical properties the demo world can violate, in the schema's order
DEMO_VOE_PROPERTIES: tuple[str, ...] = ("object_permanence", "continuity", "shape_constancy", "colour_constancy")


@dataclasses.dataclass(frozen=True)
class DemoVoESource(ConfigBlock):
    """``voe.sets.<name>`` with ``source: demo``: quadruplets rendered by the demo world (two pairs each)."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_demo"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "demo")

    source: Literal["demo"] = "demo"
    properties: tuple[str, ...] = DEMO_VOE_PROPERTIES
    pairs_per_property: int = 20
    frames: int | None = None
    camera_scale: float = 0.0
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class ManifestVoESource(ConfigBlock):
    """``voe.sets.<name>`` with ``source: manifest``: clips listed in a CSV/Parquet file."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_manifest"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "manifest")

    manifest: str
    source: Literal["manifest"] = "manifest"
    frames: int = 16
    frame_step: int | None = None


@dataclasses.dataclass(frozen=True)
class IntPhysVoESource(ConfigBlock):
    """``voe.sets.<name>`` with ``source: intphys``: an IntPhys-style folder of quadruplets."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_intphys"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "intphys")

    root: str
    source: Literal["intphys"] = "intphys"
    blocks: Mapping[str, str] = field(
        default_factory=lambda: {"O1": "object_permanence", "O2": "shape_constancy", "O3": "continuity"}
    )
    frames: int = 16
    frame_step: int | None = None


@dataclasses.dataclass(frozen=True)
class GraspVoESource(ConfigBlock):
    """``voe.sets.<name>`` with ``source: grasp``: GRASP's ``P_<Property>`` / ``IP_<Property>`` folders."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_grasp"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "grasp")

    root: str
    source: Literal["grasp"] = "grasp"
    properties: tuple[str, ...] | None = None
    frames: int = 16
    frame_step: int | None = None


@dataclasses.dataclass(frozen=True)
class InflevelVoESource(ConfigBlock):
    """``voe.sets.<name>`` with ``source: inflevel``: InfLevel-lab videos and one metadata CSV per property."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_inflevel"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "inflevel")

    root: str
    source: Literal["inflevel"] = "inflevel"
    metadata: str | None = None
    properties: tuple[str, ...] = ("continuity", "gravity", "solidity")
    frames: int = 16
    frame_step: int | None = None


VoESetConfig = DemoVoESource | ManifestVoESource | IntPhysVoESource | GraspVoESource | InflevelVoESource
VOE_SET_CONFIGS: dict[str, type[VoESetConfig]] = {
    "demo": DemoVoESource,
    "manifest": ManifestVoESource,
    "intphys": IntPhysVoESource,
    "grasp": GraspVoESource,
    "inflevel": InflevelVoESource,
}


def voe_set_config(mapping: Mapping[str, Any], *, where: str = "voe.sets.<name>") -> VoESetConfig:
    """The typed block of one ``voe.sets.<name>`` mapping, chosen by its ``source``."""
    source = mapping.get("source") if isinstance(mapping, Mapping) else None
    if source not in VOE_SET_CONFIGS:
        raise ConfigError(f"{where}.source: must be one of {list(VOE_SET_CONFIGS)}, got {source!r}")
    return VOE_SET_CONFIGS[source].from_mapping(mapping, where=where)


@dataclasses.dataclass(frozen=True)
class VoEConfig(ConfigBlock):
    """``voe``: the sets, how windows slide over a clip and how much of each is context, the untrained
    networks to compare with, and the surprise jobs' runtime settings."""

    SCHEMA: ClassVar[str] = "#/properties/voe"
    WHERE: ClassVar[str] = "voe"

    sets: Mapping[str, VoESetConfig] = field(default_factory=dict)
    window_stride: int = 2
    context_frames: tuple[int, ...] | None = None
    preregistered_context: int | None = None
    untrained_inits: int = 3
    shards: int = runtime(1, why="the gathered surprise table is the same for any number of shards")
    batch_size: int = runtime(32, why="windows per forward pass of inference (every window is scored alone)")
    threads: int = runtime(1, why="intra-op threads change speed, not results")
    loader_workers: int = runtime(0, why="loader threads only read the windows ahead")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preregistered_context is not None and self.preregistered_context not in (self.context_frames or ()):
            raise ConfigError(f"voe.preregistered_context: {self.preregistered_context} is not one of voe.context_frames "
                              f"{list(self.context_frames or [])}; pre-register one of the context lengths scored")

    def preregistered(self) -> int | None:
        """The headline's context length: ``preregistered_context``, else the first of ``context_frames``
        (None without a sweep: each model's one context, the earlier half of its window)."""
        if self.preregistered_context is not None:
            return self.preregistered_context
        return self.context_frames[0] if self.context_frames else None


def surprise_keys(model: ModelConfig) -> dict[str, object]:
    """What the surprise of given weights depends on: the network plus the pretext keys it reads.

    VideoMAE's target follows ``norm_pix_loss``, V-JEPA's pair input ``gap``; SimCLR's proxy reads none.
    The rule gets only these, so a new mask ratio does not re-score the untrained baseline.
    """
    keys = model.network()
    if isinstance(model, VideoMAEModelConfig):
        keys["norm_pix_loss"] = model.norm_pix_loss
    elif isinstance(model, VJEPAModelConfig):
        keys["gap"] = model.gap
    elif not isinstance(model, SimCLRModelConfig):
        raise TypeError(f"no surprise is defined for {type(model).__name__}")
    return keys
