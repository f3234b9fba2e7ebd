"""``benchmarks.<name>`` and ``evaluation``: labelled sets and the readouts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class DemoBenchmarkSource(ConfigBlock):
    """``benchmarks.<name>`` with ``source: demo``."""

    SCHEMA: ClassVar[str] = "#/$defs/benchmark_demo"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "demo")

    source: Literal["demo"] = "demo"
    label: Literal["shape", "direction"] = "shape"
    test_fraction: float = 0.3
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DigitsBenchmarkSource(ConfigBlock):
    """``benchmarks.<name>`` with ``source: sklearn_digits``."""

    SCHEMA: ClassVar[str] = "#/$defs/benchmark_sklearn_digits"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "sklearn_digits")

    source: Literal["sklearn_digits"] = "sklearn_digits"
    per_class: int | None = None
    test_fraction: float = 0.3
    seed: int = 0


BenchmarkConfig = DemoBenchmarkSource | DigitsBenchmarkSource
BENCHMARK_CONFIGS: dict[str, type[BenchmarkConfig]] = {"demo": DemoBenchmarkSource, "sklearn_digits": DigitsBenchmarkSource}


def benchmark_config(mapping: Mapping[str, Any], *, where: str = "benchmarks.<name>") -> BenchmarkConfig:
    """The typed block of one ``benchmarks.<name>`` mapping, chosen by its ``source``."""
    source = mapping.get("source") if isinstance(mapping, Mapping) else None
    if source not in BENCHMARK_CONFIGS:
        raise ConfigError(f"{where}.source: must be one of {list(BENCHMARK_CONFIGS)}, got {source!r}")
    return BENCHMARK_CONFIGS[source].from_mapping(mapping, where=where)


@dataclasses.dataclass(frozen=True)
class LinearReadoutConfig(ConfigBlock):
    """StandardScaler + SGDClassifier(hinge), the seed study's linear probe."""

    SCHEMA: ClassVar[str] = "#/properties/evaluation/properties/linear"
    WHERE: ClassVar[str] = "evaluation.linear"

    max_iter: int = 5000
    tol: float = 1.0e-4
    alpha: float = 1.0e-4
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class KnnReadoutConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/evaluation/properties/knn"
    WHERE: ClassVar[str] = "evaluation.knn"

    k: tuple[int, ...] = (1, 5)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/evaluation"
    WHERE: ClassVar[str] = "evaluation"

    embed_shards: int = runtime(1, why="the gathered embeddings are the same for any number of shards")
    embed_batch_size: int = runtime(64, why="clips per forward pass of inference (every clip is embedded alone)")
    embed_threads: int = runtime(2, why="intra-op threads change speed, not results")
    reference_curriculum: str = "mixed"
    linear: LinearReadoutConfig = field(default_factory=LinearReadoutConfig)
    knn: KnnReadoutConfig = field(default_factory=KnnReadoutConfig)
