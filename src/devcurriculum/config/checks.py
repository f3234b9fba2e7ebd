"""Checks that span config blocks (the schema checks each key alone).

They run when the workflow config is built (at Snakefile parse time), so an inconsistent config fails
before any job starts, with the key named.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from devcurriculum.config.schema import ConfigError

if TYPE_CHECKING:
    from devcurriculum.config.blocks import WorkflowConfig


def check_workflow(cfg: WorkflowConfig) -> None:
    """Raise :class:`ConfigError` naming the key of the first cross-block inconsistency."""
    check_data(cfg)
    check_curricula(cfg)
    check_models(cfg)
    check_runs(cfg)
    if cfg.pretrain.batch_size % cfg.pretrain.nproc:
        raise ConfigError(
            f"pretrain.batch_size: the global batch {cfg.pretrain.batch_size} must be divisible by "
            f"pretrain.nproc={cfg.pretrain.nproc} (each process takes an equal share)"
        )


def check_data(cfg: WorkflowConfig) -> None:
    from devcurriculum.config.blocks import INIT

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
    from devcurriculum.config.blocks import BUILT_EXTRACTORS

    features = cfg.features
    if features.built_here and features.model:
        raise ConfigError(f"features.model: must be null for extractor {features.extractor!r} (that model is built here)")
    if not features.built_here and not features.model:
        raise ConfigError(
            f"features.model: required for extractor {features.extractor!r} (built here: {', '.join(BUILT_EXTRACTORS)})"
        )
    if cfg.features.extractor == "vit-random":
        check_random_vit(cfg)
    if INIT in cfg.curricula:
        raise ConfigError(f"curricula.{INIT}: the name is reserved for the untrained baseline")


def check_random_vit(cfg: WorkflowConfig) -> None:
    """The vit-random extractor is built on frames of ``data.clip.size`` pixels."""
    vit, size = cfg.features.random_vit, cfg.data.clip.size
    if size % vit.patch_size:
        raise ConfigError(f"features.random_vit.patch_size: {vit.patch_size} does not divide data.clip.size={size}")
    if vit.hidden_size % vit.num_attention_heads:
        raise ConfigError(
            f"features.random_vit.hidden_size: {vit.hidden_size} is not divisible by "
            f"num_attention_heads={vit.num_attention_heads}"
        )


def check_curricula(cfg: WorkflowConfig) -> None:
    groups = cfg.groups
    for name, cur in cfg.curricula.items():
        if isinstance(cur.order, tuple):
            unknown = [g for g in cur.order if g not in groups]
            if unknown:
                raise ConfigError(f"curricula.{name}.order: unknown age group(s) {unknown}; data.age_groups has {groups}")


def check_models(cfg: WorkflowConfig) -> None:
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


def check_runs(cfg: WorkflowConfig) -> None:
    for i, entry in enumerate(cfg.runs):
        for model in entry.models:
            if model not in cfg.models:
                raise ConfigError(f"runs[{i}].models: {model!r} is not defined under models ({list(cfg.models)})")
        for cur in entry.curricula:
            if cur not in cfg.curricula:
                raise ConfigError(f"runs[{i}].curricula: {cur!r} is not defined under curricula ({list(cfg.curricula)})")
