"""The whole ``config.yaml``: the blocks together, the runs, and the checks that span blocks."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import field
from typing import ClassVar

from devcurriculum.config.block import ConfigBlock
from devcurriculum.config.curricula import CurriculumConfig
from devcurriculum.config.data import DataConfig, DemoConfig
from devcurriculum.config.evaluation import BenchmarkConfig, EvaluationConfig
from devcurriculum.config.features import BUILT_EXTRACTORS, DifficultyConfig, FeaturesConfig
from devcurriculum.config.models import ModelConfig, gap_seconds_list
from devcurriculum.config.schema import ConfigError
from devcurriculum.config.training import PretrainConfig
from devcurriculum.config.voe import VoEConfig

#: the pseudo-curriculum of the untrained model ("after stage 0" of every run)
INIT = "init"


@dataclasses.dataclass(frozen=True)
class RunsEntry(ConfigBlock):
    """One entry of ``runs``: the cross product of its models, curricula and seeds."""

    SCHEMA: ClassVar[str] = "#/properties/runs/items"
    WHERE: ClassVar[str] = "runs[*]"

    models: tuple[str, ...]
    curricula: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)


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
    voe: VoEConfig = field(default_factory=VoEConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_workflow(self)

    def pretrain_for(self, model: str) -> PretrainConfig:
        """The ``pretrain`` block with ``models.<model>.pretrain`` laid over it: what that model's runs use."""
        overrides = dict(self.models[model].pretrain)
        if not overrides:
            return self.pretrain
        return PretrainConfig.from_mapping({**self.pretrain.to_dict(), **overrides}, where=f"models.{model}.pretrain")

    @property
    def pair_gaps(self) -> tuple[float, ...]:
        """Every distinct ``gap_seconds`` of the models, sorted: what the pair cache holds (empty: no pair cache)."""
        gaps = {g for m in self.models.values() for g in gap_seconds_list(getattr(m, "gap_seconds", None))}
        return tuple(sorted(gaps))

    @property
    def groups(self) -> list[str]:
        """Age-group names in config order."""
        return list(self.data.age_groups)


# ---- checks that span blocks (the schema checks each key alone) ---------------------------------


def _check_workflow(cfg: WorkflowConfig) -> None:
    """Raise :class:`ConfigError` naming the key of the first cross-block inconsistency."""
    _check_data(cfg)
    _check_curricula(cfg)
    _check_models(cfg)
    _check_runs(cfg)
    _check_voe(cfg)
    _check_benchmarks(cfg)
    for name in ("", *cfg.models):
        pretrain = cfg.pretrain_for(name) if name else cfg.pretrain
        where = f"models.{name}.pretrain" if name else "pretrain"
        if pretrain.batch_size % pretrain.nproc:
            raise ConfigError(
                f"{where}.batch_size: the global batch {pretrain.batch_size} must be divisible by "
                f"nproc={pretrain.nproc} (each process takes an equal share)"
            )


def _check_data(cfg: WorkflowConfig) -> None:
    data = cfg.data
    if data.source == "manifest" and not data.manifest:
        raise ConfigError("data.manifest: required when data.source is 'manifest'")
    spans = []
    for name, (lo, hi) in data.age_groups.items():
        if not lo < hi:
            raise ConfigError(f"data.age_groups.{name}: min_days ({lo:g}) must be below max_days ({hi:g})")
        spans.append((lo, hi, name))
    spans.sort()
    for (lo1, hi1, n1), (lo2, _hi2, n2) in itertools.pairwise(spans):
        if lo2 < hi1:
            raise ConfigError(f"data.age_groups: {n1} [{lo1:g}, {hi1:g}) overlaps {n2} (starts at {lo2:g})")
    features = cfg.features
    if features.built_here and features.model:
        raise ConfigError(f"features.model: must be null for extractor {features.extractor!r} (that model is built here)")
    if not features.built_here and not features.model:
        raise ConfigError(
            f"features.model: required for extractor {features.extractor!r} (built here: {', '.join(BUILT_EXTRACTORS)})"
        )
    if cfg.features.extractor == "vit-random":
        _check_random_vit(cfg)
    if INIT in cfg.curricula:
        raise ConfigError(f"curricula.{INIT}: the name is reserved for the untrained baseline")


def _check_random_vit(cfg: WorkflowConfig) -> None:
    """The vit-random extractor is built on frames of ``data.clip.size`` pixels."""
    vit, size = cfg.features.random_vit, cfg.data.clip.size
    if size % vit.patch_size:
        raise ConfigError(f"features.random_vit.patch_size: {vit.patch_size} does not divide data.clip.size={size}")
    if vit.hidden_size % vit.num_attention_heads:
        raise ConfigError(
            f"features.random_vit.hidden_size: {vit.hidden_size} is not divisible by "
            f"num_attention_heads={vit.num_attention_heads}"
        )


def _check_curricula(cfg: WorkflowConfig) -> None:
    groups = cfg.groups
    for name, cur in cfg.curricula.items():
        if isinstance(cur.order, tuple):
            unknown = [g for g in cur.order if g not in groups]
            if unknown:
                raise ConfigError(f"curricula.{name}.order: unknown age group(s) {unknown}; data.age_groups has {groups}")


def _check_models(cfg: WorkflowConfig) -> None:
    """Every ViT-style model must tile the clip exactly into patches and tubelets."""
    clip = cfg.data.clip
    for name, model in cfg.models.items():
        patch = getattr(model, "patch_size", None)
        tubelet = getattr(model, "tubelet_size", None)
        if patch is not None and clip.size % patch:
            raise ConfigError(f"models.{name}.patch_size: {patch} does not divide data.clip.size={clip.size}")
        if tubelet is not None and clip.frames % tubelet:
            raise ConfigError(f"models.{name}.tubelet_size: {tubelet} does not divide data.clip.frames={clip.frames}")
        for width_key, heads_key in (
            ("hidden_size", "num_attention_heads"),
            ("decoder_hidden_size", "decoder_num_attention_heads"),
            ("pred_hidden_size", "pred_num_attention_heads"),
        ):
            width, heads = getattr(model, width_key, None), getattr(model, heads_key, None)
            if width is not None and heads is not None and width % heads:
                raise ConfigError(f"models.{name}.{width_key}: {width} is not divisible by {heads_key}={heads}")
        if model.objective == "videomae" and model.mask_type == "future":
            slices = clip.frames // model.tubelet_size
            if slices < 2 or int(model.mask_ratio * slices) < slices - slices // 2:
                raise ConfigError(
                    f"models.{name}.mask_type: 'future' masks the later half of {slices} temporal slice(s): it needs "
                    f"at least 2 slices and mask_ratio >= {(slices - slices // 2) / max(slices, 1):.2f}"
                )
        embedding = getattr(model, "embedding", None)
        if embedding is not None and embedding.pooling == "grid" and patch is not None and tubelet is not None:
            # a V-JEPA frame pair is embedded as the two-slice video it trains on
            slices = 2 if getattr(model, "mode", "clip") == "pairs" else clip.frames // tubelet
            tokens = (slices, clip.size // patch, clip.size // patch)
            if any(n % c for n, c in zip(tokens, embedding.grid, strict=True)):
                raise ConfigError(
                    f"models.{name}.embedding.grid: {list(embedding.grid)} does not divide the token grid "
                    f"{list(tokens)} (time x height x width)"
                )
        if model.objective == "vjepa":
            for width_key, heads_key in (("hidden_size", "num_attention_heads"), ("pred_hidden_size", "pred_num_attention_heads")):
                if getattr(model, width_key) // getattr(model, heads_key) < 6:
                    raise ConfigError(
                        f"models.{name}.{width_key}: head width {getattr(model, width_key)}/{getattr(model, heads_key)} "
                        "must be at least 6 (3-D RoPE rotates 3 pairs of dimensions per head)"
                    )
            slices = clip.frames // model.tubelet_size
            if model.mode == "clip" and slices < 2:
                raise ConfigError(
                    f"models.{name}.mode: 'clip' needs at least 2 temporal slices; data.clip.frames={clip.frames} "
                    f"with tubelet_size={model.tubelet_size} gives {slices}"
                )
            if model.mode == "pairs" and clip.frames < 2:
                raise ConfigError(f"models.{name}.mode: 'pairs' needs clips of at least 2 frames (data.clip.frames={clip.frames})")
        if model.objective == "simclr" and clip.frames < 2:
            raise ConfigError(f"models.{name}: simclr needs clips of at least 2 frames (data.clip.frames={clip.frames})")


def _check_benchmarks(cfg: WorkflowConfig) -> None:
    for name, bench in cfg.benchmarks.items():
        if getattr(bench, "label", None) == "view" and cfg.demo.benchmark.views_per_class < 1:
            raise ConfigError(
                f"benchmarks.{name}.label: 'view' needs the demo's view clips: set demo.benchmark.views_per_class > 0"
            )


def _check_runs(cfg: WorkflowConfig) -> None:
    for i, entry in enumerate(cfg.runs):
        for model in entry.models:
            if model not in cfg.models:
                raise ConfigError(f"runs[{i}].models: {model!r} is not defined under models ({list(cfg.models)})")
        for cur in entry.curricula:
            if cur not in cfg.curricula:
                raise ConfigError(f"runs[{i}].curricula: {cur!r} is not defined under curricula ({list(cfg.curricula)})")
        for model in entry.models:
            if getattr(cfg.models[model], "gap_seconds", None) is None:
                continue
            for cur in entry.curricula:
                if cfg.curricula[cur].needs_difficulty:
                    raise ConfigError(
                        f"runs[{i}]: curricula.{cur}.weighting (prototype weighting) cannot run with "
                        f"models.{model}.gap_seconds: the difficulty table scores clips, and frame pairs across a "
                        "video have no difficulty; drop the weighting block or gap_seconds for this run"
                    )


def _check_voe(cfg: WorkflowConfig) -> None:
    """Every VoE clip must hold at least one model window (``data.clip.frames`` frames)."""
    for name, voe_set in cfg.voe.sets.items():
        if voe_set.frames < cfg.data.clip.frames:
            raise ConfigError(
                f"voe.sets.{name}.frames: {voe_set.frames} is shorter than the models' window "
                f"data.clip.frames={cfg.data.clip.frames}; set it to at least {cfg.data.clip.frames} "
                f"({cfg.data.clip.frames + 2 * cfg.voe.window_stride} gives three windows)"
            )
