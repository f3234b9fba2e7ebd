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
    """``voe.sets.<name>`` with ``source: demo``: pairs rendered by the demo world."""

    SCHEMA: ClassVar[str] = "#/$defs/voe_demo"
    WHERE: ClassVar[str] = "voe.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "demo")

    source: Literal["demo"] = "demo"
    properties: tuple[str, ...] = DEMO_VOE_PROPERTIES
    pairs_per_property: int = 8
    frames: int = 16
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


VoESetConfig = DemoVoESource | ManifestVoESource | IntPhysVoESource
VOE_SET_CONFIGS: dict[str, type[VoESetConfig]] = {
    "demo": DemoVoESource,
    "manifest": ManifestVoESource,
    "intphys": IntPhysVoESource,
}


def voe_set_config(mapping: Mapping[str, Any], *, where: str = "voe.sets.<name>") -> VoESetConfig:
    """The typed block of one ``voe.sets.<name>`` mapping, chosen by its ``source``."""
    source = mapping.get("source") if isinstance(mapping, Mapping) else None
    if source not in VOE_SET_CONFIGS:
        raise ConfigError(f"{where}.source: must be one of {list(VOE_SET_CONFIGS)}, got {source!r}")
    return VOE_SET_CONFIGS[source].from_mapping(mapping, where=where)


@dataclasses.dataclass(frozen=True)
class VoEConfig(ConfigBlock):
    """``voe``: the sets, how windows slide over a clip, and the surprise jobs' runtime settings."""

    SCHEMA: ClassVar[str] = "#/properties/voe"
    WHERE: ClassVar[str] = "voe"

    sets: Mapping[str, VoESetConfig] = field(default_factory=dict)
    window_stride: int = 2
    shards: int = runtime(1, why="the gathered surprise table is the same for any number of shards")
    batch_size: int = runtime(32, why="windows per forward pass of inference (every window is scored alone)")
    threads: int = runtime(1, why="intra-op threads change speed, not results")
    loader_workers: int = runtime(0, why="loader threads only read the windows ahead")


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
