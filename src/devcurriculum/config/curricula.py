"""``curricula.<name>``: age order plus optional prototype weighting, blur and LeRaC."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import ClassVar, Literal

from devcurriculum.config.block import OMIT_NONE, ConfigBlock, opt_in
from devcurriculum.config.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class WeightingConfig(ConfigBlock):
    """Per-sample weights inside the active pool (docs/algorithms.md §B, "Weights")."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties/properties/weighting"
    WHERE: ClassVar[str] = "curricula.*.weighting"

    kind: Literal["prototypes_first", "hard_first", "uniform"] = "prototypes_first"
    initial_fraction: float = 0.2
    warmup_fraction: float = 0.5


@dataclasses.dataclass(frozen=True)
class BlurConfig(ConfigBlock):
    """Blur curriculum over training steps (docs/algorithms.md §C)."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties/properties/blur"
    WHERE: ClassVar[str] = "curricula.*.blur"

    variant: Literal["fixed", "linear_proportion", "linear_sigma", "random_sigma"] = "linear_sigma"
    sigma: float = 1.0
    sigma_max: float = 2.0
    sigma_min: float = 0.1
    kernel_size: int | None = None
    until_fraction: float = 0.5
    levels: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel_size is not None and (self.kernel_size < 1 or self.kernel_size % 2 == 0):
            raise ConfigError(f"{self.WHERE}.kernel_size: must be a positive odd integer, got {self.kernel_size}")
        if self.variant == "random_sigma" and self.sigma_min > self.sigma_max:
            raise ConfigError(f"{self.WHERE}: sigma_min {self.sigma_min} > sigma_max {self.sigma_max}")


@dataclasses.dataclass(frozen=True)
class LeracConfig(ConfigBlock):
    """LeRaC layer-wise learning-rate curriculum (docs/algorithms.md §D)."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties/properties/lerac"
    WHERE: ClassVar[str] = "curricula.*.lerac"

    mode: Literal["paper", "official"] = "paper"
    warmup_fraction: float = 0.3
    min_scale: float = 1.0e-3
    c: float = 10.0
    head_scale: float = 1.0e-3
    updates: int = 5


@dataclasses.dataclass(frozen=True)
class ControlConfig(ConfigBlock):
    """A complexity control (docs/curriculum.md "Complexity controls"): matched pools and/or static frames."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties/properties/control"
    WHERE: ClassVar[str] = "curricula.*.control"

    match: Literal["spatial", "temporal", "spatiotemporal"] | None = None
    frames: Literal["clip", "static"] = "clip"
    target: str | None = None
    bins: int = 10
    tolerance: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.match is None and self.frames == "clip":
            raise ConfigError(f"{self.WHERE}: changes nothing; set match (spatial, temporal, spatiotemporal) and/or "
                              "frames: static")


@dataclasses.dataclass(frozen=True)
class CurriculumConfig(ConfigBlock):
    """``curricula.<name>``: an age order plus optional prototype weighting, blur and LeRaC.

    ``stage_data``: what each stage trains on, every clip of its groups (``whole``) or the seed study's
    fold of them (``seed_folds``, :mod:`devcurriculum.curriculum.folds`): ``fold_rule`` (None: each
    model's) says which fold a stage uses, ``segment_seconds`` how long a segment is. ``control``: a
    complexity control (:mod:`devcurriculum.curriculum.controls`).
    """

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties"
    WHERE: ClassVar[str] = "curricula.*"

    order: tuple[str, ...] | Literal["shuffled", "mixed"]
    seed: int | Literal["run"] = 0
    weighting: WeightingConfig | None = None
    blur: BlurConfig | None = None
    lerac: LeracConfig | None = None
    stage_data: Literal["whole", "seed_folds"] = opt_in("whole")
    fold_rule: Literal["rotating", "fixed"] | None = field(default=None, metadata={OMIT_NONE: True})
    segment_seconds: float = opt_in(1800.0)
    control: ControlConfig | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stage_data == "seed_folds" and self.needs_difficulty:
            raise ConfigError(
                f"{self.WHERE}.stage_data: seed_folds cannot run with a weighting block (its schedule is solved on the "
                "whole stage pool, a fold is a third of it); drop one of the two"
            )
        if self.stage_data == "whole" and (self.fold_rule is not None or self.segment_seconds != 1800.0):
            raise ConfigError(f"{self.WHERE}.fold_rule / segment_seconds: set only with stage_data: seed_folds")

    @property
    def needs_complexity(self) -> bool:
        """Whether pools are matched on the per-clip complexity (and so depend on measure_complexity)."""
        return self.control is not None and self.control.match is not None

    @property
    def needs_difficulty(self) -> bool:
        """Whether sampling is weighted by difficulty (and so depends on score_difficulty)."""
        return self.weighting is not None and self.weighting.kind != "uniform"
