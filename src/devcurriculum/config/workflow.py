"""The whole ``config.yaml``: the blocks together, the runs, and the checks that span blocks."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import ClassVar, Literal

from devcurriculum.config.baselines import BASELINE, BaselineConfig
from devcurriculum.config.block import OMIT_NONE, ConfigBlock, runtime
from devcurriculum.config.curricula import CurriculumConfig
from devcurriculum.config.data import ClipConfig, DataConfig, DemoConfig
from devcurriculum.config.evaluation import BenchmarkConfig, BenchmarkSamplingConfig, EvaluationConfig, LabelledSource
from devcurriculum.config.features import BUILT_EXTRACTORS, DifficultyConfig, FeaturesConfig
from devcurriculum.config.models import ModelConfig, VideoMAEModelConfig, VJEPAModelConfig, gap_seconds_list
from devcurriculum.config.ocp import OCPConfig
from devcurriculum.config.schema import ConfigError
from devcurriculum.config.tracking import TrackingConfig
from devcurriculum.config.training import PretrainConfig
from devcurriculum.config.voe import VoEConfig
from devcurriculum.datasets.fractions import parse_fraction

#: the pseudo-curriculum of the untrained model ("after stage 0" of every run)
INIT = "init"


@dataclasses.dataclass(frozen=True)
class RunsEntry(ConfigBlock):
    """One entry of ``runs``: the cross product of its models, curricula, seeds (and data fractions)."""

    SCHEMA: ClassVar[str] = "#/properties/runs/items"
    WHERE: ClassVar[str] = "runs[*]"

    models: tuple[str, ...]
    curricula: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    # numbers or "a/b" strings as written; :attr:`fractions` parses them (null: the whole corpus only)
    data_fractions: tuple[float | str, ...] | None = field(default=None, metadata={OMIT_NONE: True})
    fraction_budget: Literal["steps", "epochs"] = "steps"

    @property
    def fractions(self) -> tuple[float, ...]:
        """The corpus fractions this entry trains on, as numbers in (0, 1] (``(1.0,)`` without ``data_fractions``)."""
        if self.data_fractions is None:
            return (1.0,)
        return tuple(parse_fraction(v, f"{self.WHERE}.data_fractions[{j}]") for j, v in enumerate(self.data_fractions))


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
    baselines: Mapping[str, BaselineConfig] = field(default_factory=dict)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    ocp: OCPConfig = field(default_factory=OCPConfig)
    warm_jobs: bool = runtime(True, why="where a local job's libraries were imported, not what it computes (utils.warm_jobs)")

    def __post_init__(self) -> None:
        super().__post_init__()
        _fill_demo_voe_frames(self)
        _check_workflow(self)

    def voe_window(self) -> int:
        """The longest window a VoE set is scored in: ``data.clip.frames`` or a learner's own clip frames."""
        return max([self.data.clip.frames] + [self.clip_for(m).frames for m in self.models if self.view_key(m)])

    def pretrain_for(self, model: str) -> PretrainConfig:
        """The ``pretrain`` block with ``models.<model>.pretrain`` laid over it: what that model's runs use."""
        overrides = self.models[model].pretrain.to_dict()
        if not overrides:
            return self.pretrain
        return PretrainConfig.from_mapping({**self.pretrain.to_dict(), **overrides}, where=f"models.{model}.pretrain")

    def clip_for(self, model: str) -> ClipConfig:
        """``data.clip`` with ``models.<model>.clip`` laid over it: the clips that model trains and is evaluated on."""
        own = self.models[model].clip
        if own is None:
            return self.data.clip
        return ClipConfig.from_mapping({**self.data.clip.to_dict(), **own.to_dict()}, where=f"models.{model}.clip")

    def clip_key(self, model: str) -> str:
        """The clip cache of a model: ``""`` for ``data.clip``'s own, else :func:`clip_setting_key` of its clip."""
        clip = self.clip_for(model)
        return "" if clip == self.data.clip else clip_setting_key(clip)

    def view_key(self, model: str) -> str:
        """The benchmarks and VoE sets of a model: ``""`` when its frames, frame_step and size are ``data.clip``'s
        (stride only cuts the training cache), else :func:`clip_setting_key` of them."""
        clip = self.clip_for(model)
        return "" if _view(clip) == _view(self.data.clip) else clip_setting_key(clip, stride=False)

    def view_clip(self, key: str) -> ClipConfig:
        """The clip a view key's benchmarks and VoE sets are prepared at (``data.clip``'s stride, which they ignore)."""
        if not key:
            return self.data.clip
        for name in self.models:
            if self.view_key(name) == key:
                return dataclasses.replace(self.clip_for(name), stride=self.data.clip.stride)
        raise KeyError(f"no model has the clip setting {key!r}")

    def benchmark_sampling(self, model: str | None, benchmark: str) -> BenchmarkSamplingConfig | None:
        """The sampling policy of a benchmark for a model: ``models.<model>.benchmark_sampling`` for the
        benchmark's source, else the benchmark's own ``sampling`` (None: neither; ``model`` None: the latter)."""
        bench = self.benchmarks[benchmark]
        if not isinstance(bench, LabelledSource):
            return None
        own = self.models[model].benchmark_sampling if model is not None else None
        return (own.for_source(bench.source) if own is not None else None) or bench.sampling

    def benchmark_key(self, model: str | None, benchmark: str) -> str:
        """The ``{viewset}`` of a benchmark's files for a model: its :meth:`view_key` when no policy applies
        (unchanged paths), else the clip's :func:`clip_setting_key` and the policy, ``f16s1x224-ssv2_2023r6``."""
        sampling = self.benchmark_sampling(model, benchmark)
        if sampling is None:
            return self.view_key(model) if model is not None else ""
        clip = self.clip_for(model) if model is not None else self.data.clip
        return f"{clip_setting_key(clip, stride=False)}-{sampling.key}"

    def benchmark_at(self, key: str, benchmark: str) -> tuple[ClipConfig, BenchmarkConfig]:
        """The clip and the benchmark block that a benchmark's files at ``key`` (:meth:`benchmark_key`) are
        prepared with: a model's policy replaces the benchmark's own ``sampling`` and clip placement keys."""
        for name in (None, *self.models):
            if self.benchmark_key(name, benchmark) != key:
                continue
            clip = self.data.clip if name is None else dataclasses.replace(self.clip_for(name), stride=self.data.clip.stride)
            bench = self.benchmarks[benchmark]
            sampling = self.benchmark_sampling(name, benchmark)
            if isinstance(bench, LabelledSource) and sampling != bench.sampling:
                bench = dataclasses.replace(bench, sampling=sampling, frame_step=None, target_fps=None,
                                            start_fraction=LabelledSource.start_fraction)
            return clip, bench
        raise KeyError(f"no model has the benchmark setting {key!r} for benchmarks.{benchmark}")

    def cache_clip(self, key: str) -> ClipConfig:
        """The clip a clip-cache key's cache is cut at."""
        if not key:
            return self.data.clip
        for name in self.models:
            if self.clip_key(name) == key:
                return self.clip_for(name)
        raise KeyError(f"no model has the clip setting {key!r}")

    @property
    def pair_gaps(self) -> tuple[float, ...]:
        """Every distinct ``gap_seconds`` of the models, sorted: what the pair cache holds (empty: no pair cache)."""
        gaps = {g for m in self.models.values() for g in gap_seconds_list(m.gap_seconds)}
        return tuple(sorted(gaps))

    @property
    def groups(self) -> list[str]:
        """Age-group names in config order."""
        return list(self.data.age_groups)


def _view(clip: ClipConfig) -> tuple[int, int, int]:
    return clip.frames, clip.frame_step, clip.size


def clip_setting_key(clip: ClipConfig, *, stride: bool = True) -> str:
    """A short name of a clip setting for paths: ``f{frames}s{frame_step}x{size}`` (+ ``r{stride}``).

    ``results/data/clips@f16s2x112r16/`` holds a clip cache, ``results/benchmarks@f16s2x112/`` the
    benchmarks at that setting (they do not depend on the stride).
    """
    key = f"f{clip.frames}s{clip.frame_step}x{clip.size}"
    return f"{key}r{clip.stride}" if stride else key


# ---- checks that span blocks (the schema checks each key alone) ---------------------------------


def _fill_demo_voe_frames(cfg: WorkflowConfig) -> None:
    """A demo VoE set's ``frames: null`` becomes the longest window + ``voe.window_stride`` (two windows)."""
    if not any(getattr(s, "frames", 0) is None for s in cfg.voe.sets.values()):
        return
    frames = cfg.voe_window() + cfg.voe.window_stride
    sets = {name: dataclasses.replace(s, frames=frames) if s.frames is None else s for name, s in cfg.voe.sets.items()}
    object.__setattr__(cfg, "voe", dataclasses.replace(cfg.voe, sets=sets))


def _check_workflow(cfg: WorkflowConfig) -> None:
    """Raise :class:`ConfigError` naming the key of the first cross-block inconsistency."""
    _check_data(cfg)
    _check_curricula(cfg)
    _check_models(cfg)
    _check_runs(cfg)
    _check_voe(cfg)
    _check_benchmarks(cfg)
    _check_baselines(cfg)
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
        control = cur.control
        if control is not None and control.target is not None and control.target not in groups:
            raise ConfigError(f"curricula.{name}.control.target: {control.target!r} is not an age group ({groups})")
        if control is not None and control.target is None and groups:
            youngest = min(cfg.data.age_groups, key=lambda g: cfg.data.age_groups[g][0])
            if youngest != groups[0]:
                raise ConfigError(
                    f"curricula.{name}.control.target: null means the first group of data.age_groups ({groups[0]}), "
                    f"but the youngest is {youngest}; name the target"
                )


def _check_models(cfg: WorkflowConfig) -> None:
    """Every ViT-style model must tile its clip (``models.<name>.clip`` over ``data.clip``) exactly."""
    for name, model in cfg.models.items():
        clip = cfg.clip_for(name)
        own = model.clip.to_dict() if model.clip is not None else {}
        init = model.init_source
        if init is not None and not Path(init.path).exists():
            raise ConfigError(f"models.{name}.init_from.path: {init.path} does not exist (a local folder or .safetensors file)")

        def key(k: str, own: dict = own, name: str = name) -> str:
            return f"models.{name}.clip.{k}" if k in own else f"data.clip.{k}"

        if model.pairs_across_video and clip.size != cfg.data.clip.size:
            raise ConfigError(
                f"models.{name}.clip.size: {clip.size} differs from data.clip.size={cfg.data.clip.size}, the frame size "
                f"of the pair cache models.{name}.gap_seconds trains on; drop one of the two"
            )
        vit = model if isinstance(model, VideoMAEModelConfig | VJEPAModelConfig) else None
        if vit is not None and clip.size % vit.patch_size:
            raise ConfigError(f"models.{name}.patch_size: {vit.patch_size} does not divide {key('size')}={clip.size}")
        if vit is not None and clip.frames % vit.tubelet_size:
            raise ConfigError(f"models.{name}.tubelet_size: {vit.tubelet_size} does not divide {key('frames')}={clip.frames}")
        for stack in model.attention_stacks():
            if stack.width % stack.heads:
                raise ConfigError(f"models.{name}.{stack.width_key}: {stack.width} is not divisible by {stack.heads_key}={stack.heads}")
        if model.objective == "videomae" and model.mask_type == "future":
            slices = clip.frames // model.tubelet_size
            if slices < 2 or int(model.mask_ratio * slices) < slices - slices // 2:
                raise ConfigError(
                    f"models.{name}.mask_type: 'future' masks the later half of {slices} temporal slice(s): it needs "
                    f"at least 2 slices and mask_ratio >= {(slices - slices // 2) / max(slices, 1):.2f}"
                )
        if vit is not None and vit.embedding.pooling == "grid":
            # a V-JEPA frame pair is embedded as the two-slice video it trains on
            pairs = isinstance(vit, VJEPAModelConfig) and vit.mode == "pairs"
            slices = 2 if pairs else clip.frames // vit.tubelet_size
            tokens = (slices, clip.size // vit.patch_size, clip.size // vit.patch_size)
            if any(n % c for n, c in zip(tokens, vit.embedding.grid, strict=True)):
                raise ConfigError(
                    f"models.{name}.embedding.grid: {list(vit.embedding.grid)} does not divide the token grid "
                    f"{list(tokens)} (time x height x width)"
                )
        if model.objective == "vjepa":
            for stack in model.attention_stacks():
                if stack.width // stack.heads < 6:
                    raise ConfigError(
                        f"models.{name}.{stack.width_key}: head width {stack.width}/{stack.heads} "
                        "must be at least 6 (3-D RoPE rotates 3 pairs of dimensions per head)"
                    )
            slices = clip.frames // model.tubelet_size
            if model.mode == "clip" and slices < 2:
                raise ConfigError(
                    f"models.{name}.mode: 'clip' needs at least 2 temporal slices; {key('frames')}={clip.frames} "
                    f"with tubelet_size={model.tubelet_size} gives {slices}"
                )
            if model.mode == "pairs" and clip.frames < 2:
                raise ConfigError(f"models.{name}.mode: 'pairs' needs clips of at least 2 frames ({key('frames')}={clip.frames})")
        if model.objective == "simclr" and clip.frames < 2:
            raise ConfigError(f"models.{name}: simclr needs clips of at least 2 frames ({key('frames')}={clip.frames})")


def _check_benchmarks(cfg: WorkflowConfig) -> None:
    for name, bench in cfg.benchmarks.items():
        if getattr(bench, "label", None) == "view" and cfg.demo.benchmark.views_per_class < 1:
            raise ConfigError(
                f"benchmarks.{name}.label: 'view' needs the demo's view clips: set demo.benchmark.views_per_class > 0"
            )


def _check_fractions(entry: RunsEntry, i: int) -> None:
    """``runs[i].data_fractions``: each in (0, 1] (``"a/b"`` strings too), none listed twice."""
    seen: dict[float, int] = {}
    for j, value in enumerate(entry.data_fractions or ()):
        where = f"runs[{i}].data_fractions[{j}]"
        try:
            fraction = parse_fraction(value, where)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if fraction in seen:
            raise ConfigError(f"{where}: {value!r} is the fraction of runs[{i}].data_fractions[{seen[fraction]}] again")
        seen[fraction] = j


def _check_runs(cfg: WorkflowConfig) -> None:
    for i, entry in enumerate(cfg.runs):
        _check_fractions(entry, i)
        for model in entry.models:
            if model not in cfg.models:
                raise ConfigError(f"runs[{i}].models: {model!r} is not defined under models ({list(cfg.models)})")
        for cur in entry.curricula:
            if cur not in cfg.curricula:
                raise ConfigError(f"runs[{i}].curricula: {cur!r} is not defined under curricula ({list(cfg.curricula)})")
        for model in entry.models:
            conflict = _weighting_conflict(cfg, model)
            complexity = _complexity_conflict(cfg, model)
            for cur in entry.curricula:
                if conflict is not None and cfg.curricula[cur].needs_difficulty:
                    raise ConfigError(
                        f"runs[{i}]: curricula.{cur}.weighting (prototype weighting) cannot run with models.{model}.{conflict}"
                    )
                if complexity is not None and cfg.curricula[cur].needs_complexity:
                    raise ConfigError(
                        f"runs[{i}]: curricula.{cur}.control.match (complexity matching) cannot run with "
                        f"models.{model}.{complexity}"
                    )


def _weighting_conflict(cfg: WorkflowConfig, model: str) -> str | None:
    """Why prototype weighting cannot train ``model`` (its key and the reason), or None when it can."""
    if cfg.clip_key(model):
        return ("clip: the difficulty table scores the clips of data.clip's cache, not this model's; drop the "
                "weighting block or the model's clip setting for this run")
    if cfg.models[model].pairs_across_video:
        return ("gap_seconds: the difficulty table scores clips, and frame pairs across a video have no "
                "difficulty; drop the weighting block or gap_seconds for this run")
    return None


def _complexity_conflict(cfg: WorkflowConfig, model: str) -> str | None:
    """Why complexity-matched pools cannot train ``model`` (its key and the reason), or None when they can."""
    if cfg.clip_key(model):
        return ("clip: the complexity table measures the clips of data.clip's cache, not this model's; drop the "
                "control's match or the model's clip setting for this run")
    if cfg.models[model].pairs_across_video:
        return ("gap_seconds: the complexity table measures clips, and frame pairs across a video have none; drop "
                "the control's match or gap_seconds for this run (frames: static works with pairs)")
    return None


def _check_voe(cfg: WorkflowConfig) -> None:
    """Every VoE clip must hold at least one window of every model (its clip's ``frames`` frames), and every
    context length of the sweep must be whole tubelets of every scored model's window, leaving some to predict."""
    for model in sorted({m for entry in cfg.runs for m in entry.models if m in cfg.models}):
        tubelet = int(getattr(cfg.models[model], "tubelet_size", 1))  # SimCLR reads frame by frame
        frames = cfg.clip_for(model).frames
        for c in cfg.voe.context_frames or ():
            if c % tubelet or not tubelet <= c < frames:
                raise ConfigError(
                    f"voe.context_frames: {c} does not fit models.{model} ({frames}-frame windows of {tubelet}-frame "
                    f"tubelets); each context length must be a multiple of {tubelet} below {frames}, or set "
                    "voe.context_frames: null (each model's earlier half)"
                )
    windows = [("data.clip.frames", cfg.data.clip.frames)] + [
        (f"models.{m}.clip.frames", cfg.clip_for(m).frames) for m in cfg.models if cfg.view_key(m)
    ]
    for name, voe_set in cfg.voe.sets.items():
        for where, frames in windows:
            if (voe_set.frames or 0) < frames:
                raise ConfigError(
                    f"voe.sets.{name}.frames: {voe_set.frames} is shorter than the models' window "
                    f"{where}={frames}; set it to at least {frames} "
                    f"({frames + 2 * cfg.voe.window_stride} gives three windows)"
                )


def _check_baselines(cfg: WorkflowConfig) -> None:
    """A baseline's name is its ``model`` in the summary: it must not be a learner's, nor the marker."""
    for name, baseline in cfg.baselines.items():
        if name in cfg.models:
            raise ConfigError(f"baselines.{name}: the name is also under models (both name the model column of the summary)")
        if name in (INIT, BASELINE):
            raise ConfigError(f"baselines.{name}: the name is reserved")
        if baseline.path is not None and not Path(baseline.path).exists():
            raise ConfigError(f"baselines.{name}.path: {baseline.path} does not exist")
