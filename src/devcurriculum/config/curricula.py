"""``curricula.<name>``: age order plus optional prototype weighting, blur and LeRaC."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock
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
class CurriculumConfig(ConfigBlock):
    """``curricula.<name>``: an age order plus optional prototype weighting, blur and LeRaC."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties"
    WHERE: ClassVar[str] = "curricula.*"

    order: tuple[str, ...] | Literal["shuffled", "mixed"]
    seed: int | Literal["run"] = 0
    weighting: WeightingConfig | None = None
    blur: BlurConfig | None = None
    lerac: LeracConfig | None = None

    @property
    def needs_difficulty(self) -> bool:
        """Whether sampling is weighted by difficulty (and so depends on score_difficulty)."""
        return self.weighting is not None and self.weighting.kind != "uniform"
