"""Typed configuration: the schema is the source of defaults and checks; the blocks restate them (``docs/config.md``).

``WorkflowConfig.from_mapping(config)`` validates a whole ``config.yaml``; every block (``PretrainConfig``,
``ClipConfig``, ``VideoMAEModelConfig``, ...) can be built on its own the same way. ``block.shaping()``
is the part of a block that changes results: what rules get as params and resume hashes see.
"""

from typing import TYPE_CHECKING

from devcurriculum.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from devcurriculum.config.baselines import BASELINE, BaselineConfig
    from devcurriculum.config.block import ConfigBlock, runtime
    from devcurriculum.config.curricula import (
        BlurConfig,
        ControlConfig,
        CurriculumConfig,
        LeracConfig,
        WeightingConfig,
    )
    from devcurriculum.config.data import (
        CacheConfig,
        ClipConfig,
        DataConfig,
        DemoBenchmarkConfig,
        DemoConfig,
        DemoWorldConfig,
        PairConfig,
    )
    from devcurriculum.config.evaluation import (
        BENCHMARK_CONFIGS,
        BenchmarkConfig,
        BenchmarkSamplingConfig,
        Cifar10Source,
        DemoBenchmarkSource,
        DigitsBenchmarkSource,
        EvaluationConfig,
        ImageFolderSource,
        ImageManifestSource,
        KnnReadoutConfig,
        LabelledSource,
        LinearReadoutConfig,
        ModelBenchmarkSamplingConfig,
        SSv2Source,
        ToyBoxSource,
        UCF101Source,
        VideoFolderSource,
        VideoManifestSource,
        benchmark_config,
    )
    from devcurriculum.config.features import BUILT_EXTRACTORS, DifficultyConfig, FeaturesConfig, RandomVitConfig
    from devcurriculum.config.init_from import InitFromConfig
    from devcurriculum.config.models import (
        MODEL_CONFIGS,
        ModelClipConfig,
        ModelConfig,
        ModelPretrainConfig,
        MultiblockMaskConfig,
        SimCLRAugmentConfig,
        SimCLRModelConfig,
        TubeBlocksConfig,
        VideoEmbeddingConfig,
        VideoMAEModelConfig,
        VJEPAModelConfig,
        gap_seconds_at,
        gap_seconds_list,
        model_config,
    )
    from devcurriculum.config.runs import Run, baseline_runs, expand_runs, untrained_runs
    from devcurriculum.config.schema import ConfigError, load_schema
    from devcurriculum.config.tracking import TrackingConfig
    from devcurriculum.config.training import PretrainConfig
    from devcurriculum.config.voe import (
        DEMO_VOE_PROPERTIES,
        VOE_SET_CONFIGS,
        DemoVoESource,
        GraspVoESource,
        InflevelVoESource,
        IntPhysVoESource,
        ManifestVoESource,
        VoEConfig,
        VoESetConfig,
        surprise_keys,
        voe_set_config,
    )
    from devcurriculum.config.workflow import INIT, RunsEntry, WorkflowConfig
else:  # at run time each name is imported from its module when first used (utils/lazy.py)
    __getattr__, __dir__ = lazy_exports(__name__, __file__)

__all__ = [
    "BASELINE",
    "BENCHMARK_CONFIGS",
    "BUILT_EXTRACTORS",
    "DEMO_VOE_PROPERTIES",
    "INIT",
    "MODEL_CONFIGS",
    "VOE_SET_CONFIGS",
    "BaselineConfig",
    "BenchmarkConfig",
    "BenchmarkSamplingConfig",
    "BlurConfig",
    "CacheConfig",
    "Cifar10Source",
    "ClipConfig",
    "ConfigBlock",
    "ConfigError",
    "ControlConfig",
    "CurriculumConfig",
    "DataConfig",
    "DemoBenchmarkConfig",
    "DemoBenchmarkSource",
    "DemoConfig",
    "DemoVoESource",
    "DemoWorldConfig",
    "DifficultyConfig",
    "DigitsBenchmarkSource",
    "EvaluationConfig",
    "FeaturesConfig",
    "GraspVoESource",
    "ImageFolderSource",
    "ImageManifestSource",
    "InflevelVoESource",
    "InitFromConfig",
    "IntPhysVoESource",
    "KnnReadoutConfig",
    "LabelledSource",
    "LeracConfig",
    "LinearReadoutConfig",
    "ManifestVoESource",
    "ModelBenchmarkSamplingConfig",
    "ModelClipConfig",
    "ModelConfig",
    "ModelPretrainConfig",
    "MultiblockMaskConfig",
    "PairConfig",
    "PretrainConfig",
    "RandomVitConfig",
    "Run",
    "RunsEntry",
    "SSv2Source",
    "SimCLRAugmentConfig",
    "SimCLRModelConfig",
    "ToyBoxSource",
    "TrackingConfig",
    "TubeBlocksConfig",
    "UCF101Source",
    "VJEPAModelConfig",
    "VideoEmbeddingConfig",
    "VideoFolderSource",
    "VideoMAEModelConfig",
    "VideoManifestSource",
    "VoEConfig",
    "VoESetConfig",
    "WeightingConfig",
    "WorkflowConfig",
    "baseline_runs",
    "benchmark_config",
    "expand_runs",
    "gap_seconds_at",
    "gap_seconds_list",
    "load_schema",
    "model_config",
    "runtime",
    "surprise_keys",
    "untrained_runs",
    "voe_set_config",
]
