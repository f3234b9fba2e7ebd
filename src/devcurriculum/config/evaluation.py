"""``benchmarks.<name>`` and ``evaluation``: labelled sets and the readouts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from devcurriculum.config.block import OMIT_NONE, ConfigBlock, runtime
from devcurriculum.config.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class DemoBenchmarkSource(ConfigBlock):
    """``benchmarks.<name>`` with ``source: demo``."""

    SCHEMA: ClassVar[str] = "#/$defs/benchmark_demo"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "demo")

    source: Literal["demo"] = "demo"
    label: Literal["shape", "direction", "view"] = "shape"
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


#: The seed study's benchmark sampling policies (``evalsets.labelled.sampling``, docs/benchmarks.md).
SamplingPolicy = Literal["ssv2_2023", "toybox_2023", "ucf101_2023"]
#: The sources a sampling policy applies to (videos; images are repeated over the clip's frames).
VIDEO_SOURCES = ("video_manifest", "video_folder", "ucf101", "ssv2", "toybox")


@dataclasses.dataclass(frozen=True)
class BenchmarkSamplingConfig(ConfigBlock):
    """``benchmarks.<name>.sampling`` / ``models.<name>.benchmark_sampling.<source>``: a seed policy and its rate."""

    SCHEMA: ClassVar[str] = "#/$defs/benchmark_sampling"
    WHERE: ClassVar[str] = "benchmarks.<name>.sampling"

    policy: SamplingPolicy
    frame_rate: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.policy == "ssv2_2023" and round(12 / self.frame_rate) < 1:  # the policy's fixed 12 fps source
            raise ConfigError(
                f"{self.WHERE}.frame_rate: {self.frame_rate:g} gives ssv2_2023 a step of round(12/{self.frame_rate:g}) = 0 "
                "(the source is taken as 12 fps); use a rate below 24"
            )

    @property
    def key(self) -> str:
        """The policy and rate as a path part: ``ssv2_2023r6``, ``ucf101_2023r7p5``."""
        rate = f"{self.frame_rate:.6f}".rstrip("0").rstrip(".").replace(".", "p")
        return f"{self.policy}r{rate}"


@dataclasses.dataclass(frozen=True)
class ModelBenchmarkSamplingConfig(ConfigBlock):
    """``models.<name>.benchmark_sampling``: this learner's sampling policy per benchmark source.

    It wins over a benchmark's own ``sampling`` for every benchmark of that source, so one config can
    sample SSv2 at 6 fps for a 16-frame learner and at 1 fps for a 2-frame one (the seed study's table).
    """

    SCHEMA: ClassVar[str] = "#/$defs/model_benchmark_sampling"
    WHERE: ClassVar[str] = "models.<name>.benchmark_sampling"

    video_manifest: BenchmarkSamplingConfig | None = None
    video_folder: BenchmarkSamplingConfig | None = None
    ucf101: BenchmarkSamplingConfig | None = None
    ssv2: BenchmarkSamplingConfig | None = None
    toybox: BenchmarkSamplingConfig | None = None

    def for_source(self, source: str) -> BenchmarkSamplingConfig | None:
        """The policy of a benchmark source (None: the benchmark's own sampling applies)."""
        return getattr(self, source) if source in VIDEO_SOURCES else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class LabelledSource(ConfigBlock):
    """The keys every labelled source of a lab's own data shares (``$defs/labelled_common``)."""

    SCHEMA: ClassVar[str] = "#/$defs/labelled_common"
    WHERE: ClassVar[str] = "benchmarks.<name>"

    split: Literal["auto", "manifest", "stratified", "grouped"] = "auto"
    test_fraction: float = 0.3
    seed: int = 0
    frame_step: int | None = None
    target_fps: float | None = None
    start_fraction: float = 0.0
    sampling: BenchmarkSamplingConfig | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame_step is not None and self.target_fps is not None:
            raise ConfigError(f"{self.WHERE}: give frame_step or target_fps, not both")
        if self.sampling is None:
            return
        source = getattr(self, "source", None)
        if source not in VIDEO_SOURCES:
            raise ConfigError(
                f"{self.WHERE}.sampling: a sampling policy applies to videos; {source} images are repeated over "
                "the clip's frames (as the seed study does for CIFAR-10)"
            )
        own = [k for k, v in (("frame_step", self.frame_step), ("target_fps", self.target_fps)) if v is not None]
        own += ["start_fraction"] if self.start_fraction != 0.0 else []
        if own:
            raise ConfigError(
                f"{self.WHERE}.sampling: the policy {self.sampling.policy} places the clip's frames itself; "
                f"drop {', '.join(own)}"
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class VideoManifestSource(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_video_manifest"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "video_manifest")

    source: Literal["video_manifest"] = "video_manifest"
    manifest: str
    label_column: str = "label"
    group_column: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageManifestSource(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_image_manifest"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "image_manifest")

    source: Literal["image_manifest"] = "image_manifest"
    manifest: str
    label_column: str = "label"
    group_column: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VideoFolderSource(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_video_folder"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "video_folder")

    source: Literal["video_folder"] = "video_folder"
    root: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageFolderSource(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_image_folder"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "image_folder")

    source: Literal["image_folder"] = "image_folder"
    root: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class UCF101Source(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_ucf101"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "ucf101")

    source: Literal["ucf101"] = "ucf101"
    root: str
    annotations: str | None = None
    split_number: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class SSv2Source(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_ssv2"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "ssv2")

    source: Literal["ssv2"] = "ssv2"
    root: str
    classes: tuple[str, ...]
    videos: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ToyBoxSource(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_toybox"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "toybox")

    source: Literal["toybox"] = "toybox"
    split: Literal["auto", "manifest", "stratified", "grouped"] = "grouped"
    root: str
    transformations: tuple[str, ...] | None = None
    # null (the category task) is left out of the block's dicts, so existing ToyBox benchmarks keep their params
    task: Literal["category", "transformation"] | None = field(default=None, metadata={OMIT_NONE: True})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cifar10Source(LabelledSource):
    SCHEMA: ClassVar[str] = "#/$defs/benchmark_cifar10"
    WHERE: ClassVar[str] = "benchmarks.<name>"
    TAG: ClassVar[tuple[str, str] | None] = ("source", "cifar10")

    source: Literal["cifar10"] = "cifar10"
    root: str
    per_class: int | None = None


BenchmarkConfig = (
    DemoBenchmarkSource | DigitsBenchmarkSource | VideoManifestSource | ImageManifestSource | VideoFolderSource
    | ImageFolderSource | UCF101Source | SSv2Source | ToyBoxSource | Cifar10Source
)
BENCHMARK_CONFIGS: dict[str, type[BenchmarkConfig]] = {
    cls.TAG[1]: cls  # type: ignore[index]
    for cls in (DemoBenchmarkSource, DigitsBenchmarkSource, VideoManifestSource, ImageManifestSource,
                VideoFolderSource, ImageFolderSource, UCF101Source, SSv2Source, ToyBoxSource, Cifar10Source)
}


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
class FewShotConfig(ConfigBlock):
    """``evaluation.few_shot``: linear and kNN readouts trained on n labelled items per class (docs/evaluation.md)."""

    SCHEMA: ClassVar[str] = "#/$defs/few_shot"
    WHERE: ClassVar[str] = "evaluation.few_shot"

    shots: tuple[int, ...] = (1, 5, 10, 20)
    repeats: int = 10
    seed: int = 0
    confidence: float = 0.95


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/evaluation"
    WHERE: ClassVar[str] = "evaluation"

    embed_shards: int = runtime(1, why="the gathered embeddings are the same for any number of shards")
    embed_batch_size: int = runtime(64, why="clips per forward pass of inference (every clip is embedded alone)")
    embed_threads: int = runtime(2, why="intra-op threads change speed, not results")
    embed_loader_workers: int = runtime(0, why="loader threads only read the clips ahead")
    reference_curriculum: str = "mixed"
    linear: LinearReadoutConfig = field(default_factory=LinearReadoutConfig)
    knn: KnnReadoutConfig = field(default_factory=KnnReadoutConfig)
    #: a matplotlib style (name or .mplstyle file) the summary's figures are drawn in; None: matplotlib's defaults
    figure_style: str | None = field(default=None, metadata={OMIT_NONE: True})
    # null (off) is left out of the block's dicts, so configs without it keep their params
    few_shot: FewShotConfig | None = None
