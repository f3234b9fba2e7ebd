"""Typed configuration: the schema is the one source of defaults and checks (see ``docs/config.md``).

``WorkflowConfig.from_mapping(config)`` validates a whole ``config.yaml``; every block (``PretrainConfig``,
``ClipConfig``, ``VideoMAEModelConfig``, ...) can be built on its own the same way. ``block.shaping()``
is the part of a block that changes results: what rules get as params and resume hashes see.
"""

from devcurriculum.config.block import ConfigBlock, runtime
from devcurriculum.config.curricula import BlurConfig, CurriculumConfig, LeracConfig, WeightingConfig
from devcurriculum.config.data import ClipConfig, DataConfig, DemoBenchmarkConfig, DemoConfig, DemoWorldConfig
from devcurriculum.config.evaluation import (
    BENCHMARK_CONFIGS,
    BenchmarkConfig,
    Cifar10Source,
    DemoBenchmarkSource,
    DigitsBenchmarkSource,
    EvaluationConfig,
    ImageFolderSource,
    ImageManifestSource,
    KnnReadoutConfig,
    LabelledSource,
    LinearReadoutConfig,
    SSv2Source,
    ToyBoxSource,
    UCF101Source,
    VideoFolderSource,
    VideoManifestSource,
    benchmark_config,
)
from devcurriculum.config.features import BUILT_EXTRACTORS, DifficultyConfig, FeaturesConfig, RandomVitConfig
from devcurriculum.config.models import (
    MODEL_CONFIGS,
    ModelConfig,
    MultiblockMaskConfig,
    SimCLRAugmentConfig,
    SimCLRModelConfig,
    TubeBlocksConfig,
    VideoEmbeddingConfig,
    VideoMAEModelConfig,
    VJEPAModelConfig,
    model_config,
)
from devcurriculum.config.runs import Run, baseline_runs, expand_runs
from devcurriculum.config.schema import ConfigError, load_schema
from devcurriculum.config.training import PretrainConfig
from devcurriculum.config.workflow import INIT, RunsEntry, WorkflowConfig

__all__ = [
    "BENCHMARK_CONFIGS",
    "BUILT_EXTRACTORS",
    "INIT",
    "MODEL_CONFIGS",
    "BenchmarkConfig",
    "BlurConfig",
    "Cifar10Source",
    "ClipConfig",
    "ConfigBlock",
    "ConfigError",
    "CurriculumConfig",
    "DataConfig",
    "DemoBenchmarkConfig",
    "DemoBenchmarkSource",
    "DemoConfig",
    "DemoWorldConfig",
    "DifficultyConfig",
    "DigitsBenchmarkSource",
    "EvaluationConfig",
    "FeaturesConfig",
    "ImageFolderSource",
    "ImageManifestSource",
    "KnnReadoutConfig",
    "LabelledSource",
    "LeracConfig",
    "LinearReadoutConfig",
    "ModelConfig",
    "MultiblockMaskConfig",
    "PretrainConfig",
    "RandomVitConfig",
    "Run",
    "RunsEntry",
    "SSv2Source",
    "SimCLRAugmentConfig",
    "SimCLRModelConfig",
    "ToyBoxSource",
    "TubeBlocksConfig",
    "UCF101Source",
    "VJEPAModelConfig",
    "VideoEmbeddingConfig",
    "VideoFolderSource",
    "VideoMAEModelConfig",
    "VideoManifestSource",
    "WeightingConfig",
    "WorkflowConfig",
    "baseline_runs",
    "benchmark_config",
    "expand_runs",
    "load_schema",
    "model_config",
    "runtime",
]
