"""``ocp``: object-contact-prediction sets (``ocp.sets.<name>``, chosen by ``source``) and their readout.

An OCP set holds clips of the first frames of a physical scene and, per clip, whether the red
object later touches the yellow one (docs/evaluation.md "Object contact prediction"). ``demo`` sets are
rendered by the demo world (:mod:`devcurriculum.demo.ocp`), ``physion`` sets read the Physion v1.5
layout (:mod:`devcurriculum.evalsets.physion`). The readout is Physion's: standardised features,
L2 logistic regression, C chosen by stratified k-fold CV on the train split, one classifier over all
scenarios, accuracy per scenario on the test split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.schema import ConfigError

#: the demo world's OCP scenarios, in the schema's order
DEMO_OCP_SCENARIOS: tuple[str, ...] = ("aim", "speed")
#: Physion v1.5's seven scenario keys (the official evaluator's), Drape is not in v1.5
PHYSION_SCENARIOS: tuple[str, ...] = ("collision", "contain", "dominoes", "drop", "link", "roll", "towers")


@dataclasses.dataclass(frozen=True)
class DemoOCPSource(ConfigBlock):
    """``ocp.sets.<name>`` with ``source: demo``: two balls in a demo room, one rolling; does it reach the other?"""

    SCHEMA: ClassVar[str] = "#/$defs/ocp_demo"
    WHERE: ClassVar[str] = "ocp.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "demo")

    source: Literal["demo"] = "demo"
    scenarios: tuple[str, ...] = DEMO_OCP_SCENARIOS
    items_per_scenario: int = 64
    trial: float = 3.0
    test_fraction: float = 0.3
    camera_scale: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.items_per_scenario % 2:
            raise ConfigError(f"{self.WHERE}.items_per_scenario: {self.items_per_scenario} is odd; the labels are "
                              "balanced (half the items reach the other ball), so give an even number")


@dataclasses.dataclass(frozen=True)
class PhysionOCPSource(ConfigBlock):
    """``ocp.sets.<name>`` with ``source: physion``: the Physion v1.5 layout (``physion_mp4s/{train,test}``)."""

    SCHEMA: ClassVar[str] = "#/$defs/ocp_physion"
    WHERE: ClassVar[str] = "ocp.sets.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "physion")

    root: str
    source: Literal["physion"] = "physion"
    scenarios: tuple[str, ...] = PHYSION_SCENARIOS
    step: int | None = None
    blacklist: bool = True


OCPSetConfig = DemoOCPSource | PhysionOCPSource
OCP_SET_CONFIGS: dict[str, type[OCPSetConfig]] = {"demo": DemoOCPSource, "physion": PhysionOCPSource}


def ocp_set_config(mapping: Mapping[str, Any], *, where: str = "ocp.sets.<name>") -> OCPSetConfig:
    """The typed block of one ``ocp.sets.<name>`` mapping, chosen by its ``source``."""
    source = mapping.get("source") if isinstance(mapping, Mapping) else None
    if source not in OCP_SET_CONFIGS:
        raise ConfigError(f"{where}.source: must be one of {list(OCP_SET_CONFIGS)}, got {source!r}")
    return OCP_SET_CONFIGS[source].from_mapping(mapping, where=where)


@dataclasses.dataclass(frozen=True)
class OCPReadoutConfig(ConfigBlock):
    """``ocp.readout``: Physion v1.5's readout (StandardScaler + L2 logistic regression, C by stratified CV)."""

    SCHEMA: ClassVar[str] = "#/properties/ocp/properties/readout"
    WHERE: ClassVar[str] = "ocp.readout"

    c_grid: tuple[float, ...] = (1.0e-6, 1.0e-5, 0.01, 0.1, 1.0, 5.0, 10.0, 20.0)
    folds: int = 5
    cv_seed: int = 42
    max_iter: int = 20000


@dataclasses.dataclass(frozen=True)
class OCPConfig(ConfigBlock):
    """``ocp``: the sets, the readout and the OCP jobs' runtime settings."""

    SCHEMA: ClassVar[str] = "#/properties/ocp"
    WHERE: ClassVar[str] = "ocp"

    sets: Mapping[str, OCPSetConfig] = field(default_factory=dict)
    readout: OCPReadoutConfig = field(default_factory=OCPReadoutConfig)
    batch_size: int = runtime(64, why="clips per forward pass of inference (every clip is embedded alone)")
    threads: int = runtime(1, why="intra-op threads change speed, not results")
