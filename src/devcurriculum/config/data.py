"""``data`` and ``demo``: where videos come from, how clips are cut, the embedded demo world."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import field
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.schema import ConfigError

Trend = float | tuple[float, float]


@dataclasses.dataclass(frozen=True)
class ClipConfig(ConfigBlock):
    """``data.clip``: how videos are cut into clips for the clip cache."""

    SCHEMA: ClassVar[str] = "#/properties/data/properties/clip"
    WHERE: ClassVar[str] = "data.clip"

    frames: int = 16
    frame_step: int = 1
    stride: int = 16
    size: int = 64

    @property
    def span(self) -> int:
        """Source frames from a clip's first to its last frame, minus one."""
        return (self.frames - 1) * self.frame_step


@dataclasses.dataclass(frozen=True)
class PairConfig(ConfigBlock):
    """``data.pairs``: the frame-pair cache of models with ``gap_seconds`` (``datasets/pairs.py``)."""

    SCHEMA: ClassVar[str] = "#/properties/data/properties/pairs"
    WHERE: ClassVar[str] = "data.pairs"

    anchor_seconds: float = 1.0


@dataclasses.dataclass(frozen=True)
class CacheConfig(ConfigBlock):
    """``data.cache``: how decoded clips are stored (``raw`` memory-mapped uint8, or ``jpeg`` frames)."""

    SCHEMA: ClassVar[str] = "#/properties/data/properties/cache"
    WHERE: ClassVar[str] = "data.cache"

    format: Literal["raw", "jpeg"] = "raw"
    quality: int = 90


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/data"
    WHERE: ClassVar[str] = "data"

    source: Literal["demo", "manifest"] = "demo"
    manifest: str | None = None
    age_groups: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"g0": (0.0, 120.0), "g1": (120.0, 240.0), "g2": (240.0, 400.0)}
    )
    clip: ClipConfig = field(default_factory=ClipConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    chunk_shards: int = runtime(1, why="the gathered clip index and its pixels are the same for any number of shards")
    cache: CacheConfig = field(default_factory=CacheConfig)


@dataclasses.dataclass(frozen=True)
class DemoWorldConfig(ConfigBlock):
    """``demo.world``: age-dependent statistics, each [youngest, oldest] or one constant number."""

    SCHEMA: ClassVar[str] = "#/properties/demo/properties/world"
    WHERE: ClassVar[str] = "demo.world"

    face_fraction: Trend = (0.25, 0.083)
    face_episode_s: Trend = (3.0, 1.5)
    face_scale: Trend = (0.65, 0.35)
    face_frontal: Trend = (0.9, 0.4)
    face_identities: Trend = (2.0, 6.0)
    hand_fraction: Trend = (0.1, 0.45)
    hand_episode_s: Trend = (2.0, 2.0)
    hand_contact: Trend = (0.2, 0.8)
    n_objects: Trend = (2.0, 8.0)
    object_scale: Trend = (0.3, 0.14)
    object_speed: Trend = (0.05, 0.25)
    camera_speed: Trend = (0.08, 0.5)
    camera_jitter: Trend = (0.003, 0.02)
    clutter_density: Trend = (1.0, 10.0)
    texture_families: Trend = (1.0, 5.0)
    texture_regions: Trend = (2.0, 9.0)
    texture_contrast: Trend = (0.12, 0.45)
    texture_period: Trend = (0.3, 0.12)
    age_span_days: tuple[float, float] | None = None

    #: statistics that are probabilities or fractions, and those that must be strictly positive
    UNIT_INTERVAL: ClassVar[frozenset[str]] = frozenset(
        {"face_fraction", "face_frontal", "hand_fraction", "hand_contact", "texture_contrast"}
    )
    POSITIVE: ClassVar[frozenset[str]] = frozenset(
        {"face_episode_s", "hand_episode_s", "face_scale", "object_scale", "texture_period"}
    )
    #: the renderer has seven texture families, flat included
    MAX_TEXTURE_FAMILIES: ClassVar[int] = 7

    def __post_init__(self) -> None:
        super().__post_init__()
        # The schema only says "a number or a pair"; the range each statistic needs is checked here.
        for key, pair in self.trends().items():
            values = list(pair)
            if not all(math.isfinite(v) and v >= 0 for v in values):
                raise ConfigError(f"demo.world.{key}: values must be finite and >= 0, got {values}")
            if key in self.UNIT_INTERVAL and max(values) > 1:
                raise ConfigError(f"demo.world.{key}: values must lie in [0, 1], got {values}")
            if key in self.POSITIVE and min(values) <= 0:
                raise ConfigError(f"demo.world.{key}: values must be > 0, got {values}")
        families = list(self.trends()["texture_families"])
        if not (min(families) >= 1 and max(families) <= self.MAX_TEXTURE_FAMILIES):
            raise ConfigError(f"demo.world.texture_families: values must lie in [1, {self.MAX_TEXTURE_FAMILIES}], got {families}")
        span = self.age_span_days
        if span is not None and not (len(span) == 2 and span[0] < span[1]):
            raise ConfigError(f"demo.world.age_span_days: must be [youngest, oldest] with youngest < oldest, got {list(span)}")

    def trends(self) -> dict[str, tuple[float, float]]:
        """Every statistic as (youngest, oldest); a constant becomes (v, v)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "age_span_days":
                continue
            value = getattr(self, f.name)
            out[f.name] = (float(value), float(value)) if isinstance(value, int | float) else tuple(value)
        return out


@dataclasses.dataclass(frozen=True)
class DemoBenchmarkConfig(ConfigBlock):
    """``demo.benchmark``: the held-out labelled clips (object shape x motion direction)."""

    SCHEMA: ClassVar[str] = "#/properties/demo/properties/benchmark"
    WHERE: ClassVar[str] = "demo.benchmark"

    clips_per_class: int = 24
    frames: int = 16
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "cross")
    directions: tuple[str, ...] = ("left", "right", "up", "down")
    camera_scale: float = 0.25
    travel: float = 0.45
    target_scale: tuple[float, float] = (0.10, 0.16)
    distractor_scale: float = 1.0
    clutter_scale: float = 1.0
    views_per_class: int = 0
    view_toy_scale: tuple[float, float] = (0.18, 0.26)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("shapes", "directions"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ConfigError(f"demo.benchmark.{key}: values must be distinct, got {list(values)}")
        low, high = self.target_scale
        if not 0 < low <= high:
            raise ConfigError(f"demo.benchmark.target_scale: needs 0 < low <= high, got {[low, high]}")
        if 2 * high + self.travel > 1:
            raise ConfigError(
                f"demo.benchmark.target_scale: 2 x {high} + travel {self.travel} exceeds the frame (must be <= 1)"
            )
        low, high = self.view_toy_scale
        if not 0 < low <= high <= 0.35:
            raise ConfigError(f"demo.benchmark.view_toy_scale: needs 0 < low <= high <= 0.35, got {[low, high]}")


@dataclasses.dataclass(frozen=True)
class DemoConfig(ConfigBlock):
    """``demo``: the embedded synthetic world (used when ``data.source`` is ``demo``)."""

    SCHEMA: ClassVar[str] = "#/properties/demo"
    WHERE: ClassVar[str] = "demo"

    seed: int = 0
    subjects_per_group: int = 4
    videos_per_subject: int = 2
    seconds: float = 8.0
    fps: int = 15
    size: int = 96
    world: DemoWorldConfig = field(default_factory=DemoWorldConfig)
    benchmark: DemoBenchmarkConfig = field(default_factory=DemoBenchmarkConfig)

    @property
    def n_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))
