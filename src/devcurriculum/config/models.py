"""``models.<name>``: one block per objective (VideoMAE, V-JEPA, SimCLR), chosen by ``objective``."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Final, Literal, NamedTuple

from devcurriculum.config.block import OMIT_NONE, PRETEXT, READOUT, SEPARATE, ConfigBlock, opt_in, pretext
from devcurriculum.config.evaluation import ModelBenchmarkSamplingConfig
from devcurriculum.config.init_from import INIT_FROM_FIELD_META, InitFrom, InitFromConfig
from devcurriculum.config.schema import ConfigError

GapSeconds = float | tuple[float, ...] | None
#: which fold a stage trains on under ``stage_data: seed_folds`` (devcurriculum.curriculum.folds)
FoldRule = Literal["rotating", "fixed"]
#: ``fold_rule``: which data each stage sees, not the network; left out of the dicts at its default
FOLD_RULE_META = {PRETEXT: "which data each stage trains on, not the network"}


#: ``gap_seconds``: pretext, and left out of the block's dicts while None (existing runs keep their spec).
GAP_SECONDS_META = {PRETEXT: "the pretext task, not the network", OMIT_NONE: True}


def gap_seconds_list(value: GapSeconds) -> tuple[float, ...]:
    """``gap_seconds`` as one value per stage (a number is one stage; empty when None)."""
    if value is None:
        return ()
    return tuple(float(v) for v in value) if isinstance(value, tuple) else (float(value),)


def gap_seconds_at(value: GapSeconds, stage: int) -> float:
    """The gap in seconds of curriculum stage ``stage`` (0-based): the list's entry, its last one after it ends."""
    gaps = gap_seconds_list(value)
    if not gaps:
        raise ValueError("gap_seconds is not set")
    return gaps[min(max(stage, 0), len(gaps) - 1)]


def _clip_key(default: None = None) -> Any:
    return field(default=default, metadata={OMIT_NONE: True})


@dataclasses.dataclass(frozen=True)
class ModelClipConfig(ConfigBlock):
    """``models.<name>.clip``: the keys of ``data.clip`` this model sets; the others are inherited.

    :meth:`~devcurriculum.config.WorkflowConfig.clip_for` resolves it into the model's :class:`ClipConfig`.
    """

    SCHEMA: ClassVar[str] = "#/$defs/model_clip"
    WHERE: ClassVar[str] = "models.<name>.clip"

    frames: int | None = _clip_key()
    frame_step: int | None = _clip_key()
    stride: int | None = _clip_key()
    size: int | None = _clip_key()


#: ``models.<name>.clip``: resolved against ``data.clip`` and passed to rules as the model's clip, so it is
#: never part of the model's own dicts (a model without it keeps its params, and its runs).
CLIP_FIELD_META = {SEPARATE: "resolved against data.clip (WorkflowConfig.clip_for)"}


#: ``models.<name>.benchmark_sampling``: how this learner's benchmarks are sampled, passed to prepare_benchmark
#: on its own (WorkflowConfig.benchmark_at), so never part of the model's own dicts (no retraining, no re-init).
BENCHMARK_SAMPLING_META = {SEPARATE: "resolved per benchmark (WorkflowConfig.benchmark_at)"}


class Inherit(enum.Enum):
    """The value of a ``models.<name>.pretrain`` key the model does not set: the ``pretrain`` block's."""

    INHERIT = "inherit"


INHERIT: Final = Inherit.INHERIT


@dataclasses.dataclass(frozen=True)
class ModelPretrainConfig(ConfigBlock):
    """``models.<name>.pretrain``: the keys of the ``pretrain`` block this model sets; the others are inherited.

    Each key is :class:`~devcurriculum.config.PretrainConfig`'s key of that name, which the schema checks
    it as (a test keeps names and types in step), or :data:`INHERIT` when the model leaves it to the
    ``pretrain`` block; an explicit null (``grad_clip: null``) is set, not inherited.
    :meth:`~devcurriculum.config.WorkflowConfig.pretrain_for` lays the set keys over the ``pretrain`` block.

    The block's dicts hold the set keys only: they are part of the model's dicts, so of its rules' params.
    Its runtime keys carry no :func:`~devcurriculum.config.block.runtime` marker, so a model's own
    ``threads`` stays in those params (marking them would change the params of configs that set them).
    """

    SCHEMA: ClassVar[str] = "#/$defs/model_pretrain"
    WHERE: ClassVar[str] = "models.<name>.pretrain"

    steps_per_stage: int | Inherit = INHERIT
    batch_size: int | Inherit = INHERIT
    optimizer: Literal["adamw", "sgd"] | Inherit = INHERIT
    lr: float | Inherit = INHERIT
    momentum: float | Inherit = INHERIT
    weight_decay: float | Inherit = INHERIT
    warmup_steps: int | Inherit = INHERIT
    min_lr: float | Inherit = INHERIT
    lr_schedule: Literal["continuous", "per_stage", "constant"] | Inherit = INHERIT
    lr_stage_factors: tuple[float, ...] | Inherit | None = INHERIT
    reset_optimizer_each_stage: bool | Inherit = INHERIT
    grad_clip: float | Inherit | None = INHERIT
    precision: Literal["fp32", "bf16"] | Inherit = INHERIT
    nproc: int | Inherit = INHERIT
    threads: int | Inherit = INHERIT
    checkpoint_every: int | Inherit = INHERIT
    log_every: int | Inherit = INHERIT
    tensorboard: bool | Inherit = INHERIT
    loader_workers: int | Inherit = INHERIT
    loader_kind: Literal["thread", "process"] | Inherit = INHERIT
    bucket_steps: int | Literal["auto"] | Inherit = INHERIT
    deterministic: bool | Inherit = INHERIT

    def to_dict(self, *, shaping_only: bool = False, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
        """As :meth:`ConfigBlock.to_dict`, without the inherited keys."""
        return {k: v for k, v in super().to_dict(shaping_only=shaping_only, drop=drop).items() if v is not INHERIT}


#: ``models.<name>.pretrain``: training settings, so left out of :meth:`ConfigBlock.network`.
PRETRAIN_FIELD_META = {PRETEXT: "training settings, not the network"}


class AttentionStack(NamedTuple):
    """One transformer stack of a model: its width and head count, with their keys (for error messages)."""

    width_key: str
    width: int
    heads_key: str
    heads: int


class BaseModelConfig(ConfigBlock):
    """What the three learners' blocks (``models.<name>``) share.

    Not a dataclass itself: ``pretrain``, ``clip`` and ``benchmark_sampling`` are declared here and placed by each subclass as
    fields, because a dataclass puts a base's fields first and the order of a block's dicts is part of
    the rules' params (Snakemake compares them as text). ``gap_seconds`` is None here: VideoMAE has no
    such key (its schema refuses it as unknown); V-JEPA and SimCLR declare it as a field.
    """

    pretrain: ModelPretrainConfig
    clip: ModelClipConfig | None
    benchmark_sampling: ModelBenchmarkSamplingConfig | None
    fold_rule: FoldRule
    init_from: InitFrom

    @property
    def init_source(self) -> InitFromConfig | None:
        """``init_from`` as a block (a bare path is ``{path: <it>}``), or None: random init."""
        from devcurriculum.config.init_from import init_from_block

        return init_from_block(self.init_from)

    @property
    def gap_seconds(self) -> GapSeconds:
        """Seconds between the frames of a pair across a video (one per stage for a list); None: no such pairs."""
        return None

    @property
    def pairs_across_video(self) -> bool:
        """Whether the model trains on frame pairs across a whole video (``gap_seconds`` set), from the pair cache."""
        return self.gap_seconds is not None

    def attention_stacks(self) -> tuple[AttentionStack, ...]:
        """The model's transformer stacks (none for a CNN): each head gets ``width / heads`` dimensions."""
        return ()


@dataclasses.dataclass(frozen=True)
class VideoEmbeddingConfig(ConfigBlock):
    """How a video learner's last-layer tokens become its evaluation embedding."""

    SCHEMA: ClassVar[str] = "#/$defs/video_embedding"
    WHERE: ClassVar[str] = "models.<name>.embedding"

    pooling: Literal["mean", "grid", "fc_norm"] = "mean"
    grid: tuple[int, int, int] = (2, 2, 2)


@dataclasses.dataclass(frozen=True)
class VideoMAEModelConfig(BaseModelConfig):
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
    mask_type: Literal["tube", "random", "future"] = pretext("tube")
    embedding: VideoEmbeddingConfig = field(default_factory=VideoEmbeddingConfig, metadata={READOUT: "how tokens are pooled"})
    pretrain: ModelPretrainConfig = field(default_factory=ModelPretrainConfig, metadata=PRETRAIN_FIELD_META)
    clip: ModelClipConfig | None = field(default=None, metadata=CLIP_FIELD_META)
    benchmark_sampling: ModelBenchmarkSamplingConfig | None = field(default=None, metadata=BENCHMARK_SAMPLING_META)
    fold_rule: Literal["rotating", "fixed"] = opt_in("rotating", FOLD_RULE_META)
    init_from: InitFrom = field(default=None, metadata=INIT_FROM_FIELD_META)

    def attention_stacks(self) -> tuple[AttentionStack, ...]:
        return (
            AttentionStack("hidden_size", self.hidden_size, "num_attention_heads", self.num_attention_heads),
            AttentionStack(
                "decoder_hidden_size", self.decoder_hidden_size, "decoder_num_attention_heads", self.decoder_num_attention_heads
            ),
        )


def _check_ranges(block: ConfigBlock, *names: str, fractions: tuple[str, ...] = ()) -> None:
    """Each ``[low, high]`` field of ``block`` must have ``0 < low <= high`` (and ``high <= 1`` for fractions)."""
    for name in names:
        lo, hi = getattr(block, name)
        if not 0 < lo <= hi:
            raise ConfigError(f"{block.WHERE}.{name}: must be [low, high] with 0 < low <= high, got {[lo, hi]}")
        if name in fractions and hi > 1:
            raise ConfigError(f"{block.WHERE}.{name}: a fraction of the frame, must be <= 1, got {[lo, hi]}")


@dataclasses.dataclass(frozen=True)
class TubeBlocksConfig(ConfigBlock):
    """One mask set of V-JEPA's 3-D multi-block masks: ``n_blocks`` spatial blocks tiled through all frames."""

    SCHEMA: ClassVar[str] = "#/$defs/vjepa/properties/masks/properties/blocks3d/items"
    WHERE: ClassVar[str] = "models.vjepa.masks.blocks3d[*]"

    n_blocks: int
    scale: tuple[float, float]
    aspect: tuple[float, float] = (0.75, 1.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self, "scale", "aspect", fractions=("scale",))


@dataclasses.dataclass(frozen=True)
class MultiblockMaskConfig(ConfigBlock):
    """V-JEPA multi-block masks (docs/algorithms.md §A, "V-JEPA"); the defaults are the seed study's.

    ``kind: seed_2frame`` (the seed study): one context block on the earlier frame(s), ``n_targets``
    target blocks on the later one(s), the targets' spatial positions removed from the context.
    ``kind: multiblock3d`` (facebookresearch/jepa): every set of ``blocks3d`` is its own prediction task,
    its blocks tubes through all frames, the context their complement. ``kind: future``: the earlier
    slices predict the later ones, every token. ``predictor`` (``seed_2frame`` only): ``union``, one
    predictor pass over the context and every target block's mask tokens; ``per_target``, one pass per
    block with the context repeated, as the seed study ran it.
    """

    SCHEMA: ClassVar[str] = "#/$defs/vjepa/properties/masks"
    WHERE: ClassVar[str] = "models.vjepa.masks"

    kind: Literal["seed_2frame", "multiblock3d", "future"] = "seed_2frame"
    context_scale: tuple[float, float] = (0.85, 1.0)
    target_scale: tuple[float, float] = (0.10, 0.15)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    n_targets: int = 4
    min_keep: int = 10
    blocks3d: tuple[TubeBlocksConfig, ...] = (
        TubeBlocksConfig(n_blocks=8, scale=(0.15, 0.15)),
        TubeBlocksConfig(n_blocks=2, scale=(0.7, 0.7)),
    )
    predictor: Literal["union", "per_target"] = opt_in("union")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self, "context_scale", "target_scale", "target_aspect", fractions=("context_scale", "target_scale"))
        if self.predictor == "per_target" and self.kind != "seed_2frame":
            raise ConfigError(
                f"{self.WHERE}.predictor: per_target (one pass per target block) needs kind: seed_2frame, got kind: "
                f"{self.kind} (multiblock3d predicts each mask set in its own pass already)"
            )


@dataclasses.dataclass(frozen=True)
class VJEPAModelConfig(BaseModelConfig):
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
    ema_schedule: Literal["run", "restart"] = pretext("run")
    loss: Literal["smooth_l1", "l1"] = pretext("smooth_l1")
    # not pretext: the embedding of a V-JEPA model follows its input mode
    mode: Literal["clip", "pairs"] = "clip"
    gap: int = pretext(4)
    gap_seconds: GapSeconds = field(default=None, metadata=GAP_SECONDS_META)
    masks: MultiblockMaskConfig = field(default_factory=MultiblockMaskConfig, metadata={PRETEXT: "the pretext task"})
    embedding: VideoEmbeddingConfig = field(default_factory=VideoEmbeddingConfig, metadata={READOUT: "how tokens are pooled"})
    pretrain: ModelPretrainConfig = field(default_factory=ModelPretrainConfig, metadata=PRETRAIN_FIELD_META)
    clip: ModelClipConfig | None = field(default=None, metadata=CLIP_FIELD_META)
    benchmark_sampling: ModelBenchmarkSamplingConfig | None = field(default=None, metadata=BENCHMARK_SAMPLING_META)
    fold_rule: Literal["rotating", "fixed"] = opt_in("fixed", FOLD_RULE_META)
    init_from: InitFrom = field(default=None, metadata=INIT_FROM_FIELD_META)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.ema[0] <= self.ema[1] <= 1.0:
            raise ConfigError(f"{self.WHERE}.ema: must be [start, end] with 0 <= start <= end <= 1, got {list(self.ema)}")
        if self.pairs_across_video and self.mode != "pairs":
            raise ConfigError(f"{self.WHERE}.gap_seconds: frame pairs across a video need mode: pairs, got mode: {self.mode}")

    def attention_stacks(self) -> tuple[AttentionStack, ...]:
        return (
            AttentionStack("hidden_size", self.hidden_size, "num_attention_heads", self.num_attention_heads),
            AttentionStack("pred_hidden_size", self.pred_hidden_size, "pred_num_attention_heads", self.pred_num_attention_heads),
        )

    def network(self, *, readout: bool = False) -> dict[str, Any]:
        """As :meth:`ConfigBlock.network`; with ``readout`` in ``pairs`` mode also ``gap`` and ``gap_seconds``.

        Both are pretext settings, but in ``pairs`` mode the embedding pairs frames by them too
        (:meth:`~devcurriculum.models.vjepa.VJEPAObjective.embed`): ``embed`` depends on them and the
        ``embed`` job rebuilds the objective from this dict.
        """
        out = super().network(readout=readout)
        if readout and self.mode == "pairs":
            out["gap"] = self.gap
            if self.pairs_across_video:
                out["gap_seconds"] = list(self.gap_seconds) if isinstance(self.gap_seconds, tuple) else self.gap_seconds
        return out


@dataclasses.dataclass(frozen=True)
class SimCLRAugmentConfig(ConfigBlock):
    SCHEMA: ClassVar[str] = "#/$defs/simclr/properties/augment"
    WHERE: ClassVar[str] = "models.simclr.augment"

    crop_scale: tuple[float, float] = (0.3, 1.0)
    flip: bool = True
    jitter: float = 0.4
    hue: float = 0.0
    jitter_prob: float = 0.8
    jitter_order: Literal["fixed", "random"] = "fixed"
    grayscale_prob: float = 0.0
    rotation: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"{self.WHERE}.crop_scale: must be [low, high] with 0 < low <= high <= 1, got {[lo, hi]}")
        if self.jitter >= 1:
            raise ConfigError(f"{self.WHERE}.jitter: must be in [0, 1), got {self.jitter}")


@dataclasses.dataclass(frozen=True)
class SimCLRModelConfig(BaseModelConfig):
    """``models.<name>`` with ``objective: simclr``."""

    SCHEMA: ClassVar[str] = "#/$defs/simclr"
    WHERE: ClassVar[str] = "models.simclr"
    TAG: ClassVar[tuple[str, str] | None] = ("objective", "simclr")

    objective: Literal["simclr"] = "simclr"
    backbone: Literal["resnet10", "resnet18", "resnet34", "resnet50"] = "resnet18"
    stem: Literal["imagenet", "small"] = "imagenet"
    proj_hidden: int = 512
    proj_dim: int = 128
    temperature: float = pretext(0.1)
    gap: int = pretext(4)
    gap_schedule: tuple[int, ...] | None = pretext(None)
    gap_seconds: GapSeconds = field(default=None, metadata=GAP_SECONDS_META)
    augment: SimCLRAugmentConfig = field(default_factory=SimCLRAugmentConfig, metadata={PRETEXT: "the pretext task"})
    pretrain: ModelPretrainConfig = field(default_factory=ModelPretrainConfig, metadata=PRETRAIN_FIELD_META)
    clip: ModelClipConfig | None = field(default=None, metadata=CLIP_FIELD_META)
    benchmark_sampling: ModelBenchmarkSamplingConfig | None = field(default=None, metadata=BENCHMARK_SAMPLING_META)
    fold_rule: Literal["rotating", "fixed"] = opt_in("fixed", FOLD_RULE_META)
    init_from: InitFrom = field(default=None, metadata=INIT_FROM_FIELD_META)


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
