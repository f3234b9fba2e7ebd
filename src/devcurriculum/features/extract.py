"""DINO-style clip features from a ViT: the input of the prototype difficulty scores (docs/algorithms.md §B).

A clip's feature is a token summary of one hidden state of a (pretrained or random) ViT applied to
its frames: ``hidden_states[layer]`` of shape (B, L, D) after the final norm (below), pooled over
tokens (``cls``: token 0; ``mean``: the average of the patch tokens, i.e. over dim 1 of (B, L, D),
never over D), from the clip's middle frame or averaged over all its frames.

Frames are read from the memory-mapped clip cache (never from the videos) as uint8 batches, ahead of
the model by ``features.loader_workers`` (:mod:`devcurriculum.eval.batches`, training's loader), then,
on the device training would use (the GPU when there is one), scaled to [0, 1], resized to the
model's input size and normalised per channel.

- Input size: the image processor's (``preprocessor_config.json``: ``crop_size`` when it centre-crops,
  else ``size``), which is what the checkpoint was evaluated at (224 for DINO ViT-S/16 and for DINOv2
  ViT-S/14, whose ``config.image_size`` is 518 only because its position grid is 37x37), provided the
  model can interpolate its position embeddings to it (DINOv2 always does; ViT/DeiT take
  ``interpolate_pos_encoding``); otherwise, and when there is no processor config, ``config.image_size``.
- Normalisation: the processor's mean/std (ImageNet statistics for DINO checkpoints); without a
  processor config, ImageNet statistics for DINOv2 models and otherwise mean 0.5 / std 0.25, the
  project's pixel normalisation (docs/algorithms.md §A; the random demo ViT).
- Final norm: the chosen hidden state goes through the model's final LayerNorm (``model.layernorm``)
  before pooling. For ``layer: -1`` this is exactly ``last_hidden_state``, the normalised output whose
  CLS token DINO (``model(x)``) and DINOv2 (``x_norm_clstoken``) use as the image feature; for an
  earlier layer it matches their ``get_intermediate_layers(..., norm=True)`` and transformers'
  ``Dinov2Backbone(apply_layernorm=True)``, so every layer is read on the same scale. A model without a
  ``layernorm`` module gets the raw hidden state (logged).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.image_processing_utils import ImageProcessingMixin

from devcurriculum.config import FeaturesConfig
from devcurriculum.datasets.clip_dataset import GroupCache, check_declared_caches
from devcurriculum.eval.batches import NO_WORKERS, EvalDevice, Loading, device_batches, to_host
from devcurriculum.utils.checksums import verify_folder
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import provenance, read_table, shard_bounds, table_from_columns, write_table
from devcurriculum.utils.progress import ProgressLog, progress_bar

log = logging.getLogger("devcurriculum.features.extract")

POOLINGS = ("cls", "mean")
FRAME_MODES = ("middle", "mean")
FALLBACK_MEAN = (0.5, 0.5, 0.5)
FALLBACK_STD = (0.25, 0.25, 0.25)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Model types that are ImageNet-normalised when their directory has no image-processor config, and
# that interpolate their position embeddings to any input size without being asked.
DINOV2_TYPES = ("dinov2", "dinov2_with_registers")

Normalization = tuple[Sequence[float], Sequence[float]]


def load_feature_model(model_dir_or_id: str | os.PathLike[str]) -> PreTrainedModel:
    """``AutoModel.from_pretrained`` in eval mode, float32; a local directory never touches the network."""
    ref = str(model_dir_or_id)
    local = Path(ref).is_dir()
    if not local and (Path(ref).is_absolute() or ref.startswith(".")):
        raise FileNotFoundError(f"feature model directory {ref} does not exist (features.model)")
    if local:  # our model folders (vit-random, an export/) carry sha256 sidecars: a flipped byte names its file
        verify_folder(ref)
    try:
        model = AutoModel.from_pretrained(ref, local_files_only=local)
    except OSError as err:
        raise OSError(
            f"cannot load the feature model {ref!r} (features.model): {err}. Without network access use a "
            "local directory, or a hub id already in the Hugging Face cache."
        ) from err
    return model.float().eval()


def _processor_dict(model_dir_or_id: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's ``preprocessor_config.json`` as a dict; empty when it has none."""
    ref = str(model_dir_or_id)
    try:
        proc, _ = ImageProcessingMixin.get_image_processor_dict(ref, local_files_only=Path(ref).is_dir())
    except (OSError, ValueError):
        return {}
    return dict(proc or {})


def _model_type(model_dir_or_id: str | os.PathLike[str]) -> str:
    """``model_type`` from the directory's ``config.json`` ("" when unreadable), without loading weights."""
    ref = str(model_dir_or_id)
    try:
        cfg, _ = PretrainedConfig.get_config_dict(ref, local_files_only=Path(ref).is_dir())
    except (OSError, ValueError):
        return ""
    return str(cfg.get("model_type", ""))


def image_normalization(model_dir_or_id: str | os.PathLike[str]) -> Normalization:
    """Per-channel (mean, std) from the model's image-processor config, else a fallback.

    The fallback is ImageNet's statistics for DINOv2 models (what they were trained with) and
    (0.5, 0.25) otherwise. A processor with ``do_normalize: false`` gets (0, 1): pixels stay in
    [0, 1] as it expects.
    """
    proc = _processor_dict(model_dir_or_id)
    if not proc:
        if _model_type(model_dir_or_id) in DINOV2_TYPES:
            return IMAGENET_MEAN, IMAGENET_STD
        return FALLBACK_MEAN, FALLBACK_STD
    if proc.get("do_normalize", True) is False:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    mean, std = proc.get("image_mean"), proc.get("image_std")
    if mean is None or std is None:
        return FALLBACK_MEAN, FALLBACK_STD
    mean = [float(mean)] * 3 if isinstance(mean, int | float) else [float(v) for v in mean]
    std = [float(std)] * 3 if isinstance(std, int | float) else [float(v) for v in std]
    return mean, std


def _model_image_size(model: PreTrainedModel) -> tuple[int, int]:
    size = getattr(model.config, "image_size", None)
    if size is None:
        raise ValueError(f"feature model {model.name_or_path!r} has no config.image_size; is it a ViT?")
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def _hw(value: Any) -> tuple[int, int] | None:
    """A processor size entry (``{"height", "width"}``, ``{"shortest_edge"}`` or an int) as (h, w)."""
    if isinstance(value, int) and value > 0:
        return value, value
    if isinstance(value, Mapping):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        if "shortest_edge" in value:  # cached clips are square: the short side is the side
            return int(value["shortest_edge"]), int(value["shortest_edge"])
    return None


def processor_input_size(model_dir_or_id: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The (h, w) the image processor feeds the model: its crop when it centre-crops, else its resize."""
    proc = _processor_dict(model_dir_or_id)
    if proc.get("do_center_crop") and _hw(proc.get("crop_size")):
        return _hw(proc.get("crop_size"))
    if proc.get("do_resize", True):
        return _hw(proc.get("size"))
    return None


def _interpolation_kwargs(model: PreTrainedModel) -> dict[str, Any] | None:
    """Forward kwargs that make ``model`` accept a non-native input size; None if it cannot."""
    if getattr(model.config, "model_type", "") in DINOV2_TYPES:
        return {}  # Dinov2Embeddings interpolates whenever the patch grid differs
    if "interpolate_pos_encoding" in inspect.signature(model.forward).parameters:
        return {"interpolate_pos_encoding": True}
    return None


def model_input_size(model: PreTrainedModel) -> tuple[tuple[int, int], dict[str, Any]]:
    """The input (h, w) for ``model`` and the forward kwargs it needs there (see the module docstring)."""
    native = _model_image_size(model)
    wanted = processor_input_size(model.name_or_path) if model.name_or_path else None
    if wanted is None or wanted == native:
        return native, {}
    kwargs = _interpolation_kwargs(model)
    patch = getattr(model.config, "patch_size", 1)
    patch = patch if isinstance(patch, (list, tuple)) else (patch, patch)
    if kwargs is None or wanted[0] % int(patch[0]) or wanted[1] % int(patch[1]):
        log.warning(
            "feature model %s: its processor asks for %s input but the model cannot interpolate its position "
            "embeddings to it; using config.image_size %s", model.name_or_path, wanted, native,
        )
        return native, {}
    return wanted, kwargs


def _final_norm(model: PreTrainedModel) -> torch.nn.Module | None:
    """The LayerNorm the model applies to its last hidden state (``last_hidden_state``), if any."""
    norm = getattr(model, "layernorm", None)
    return norm if isinstance(norm, torch.nn.Module) else None


def _prefix_tokens(model: PreTrainedModel) -> int:
    """Tokens before the patch tokens: CLS, plus DeiT's distillation token or DINOv2's registers."""
    cfg = model.config
    extra = 1 if getattr(cfg, "model_type", "") == "deit" else 0
    return 1 + extra + int(getattr(cfg, "num_register_tokens", 0) or 0)


def _frame_indices(n_frames: int, frames: str) -> np.ndarray:
    if frames == "middle":
        return np.array([n_frames // 2])  # for even T the later of the two central frames
    if frames == "mean":
        return np.arange(n_frames)
    raise ValueError(f"features.frames must be one of {FRAME_MODES}, got {frames!r}")


def _preprocess(
    frames_u8: torch.Tensor, size: tuple[int, int], mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float32 (B, 3, h, w) at the model's image size (on the frames' device)."""
    x = frames_u8.permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return (x - mean) / std


def extract_features(
    model: PreTrainedModel,
    clips: np.ndarray | GroupCache,
    layer: int = FeaturesConfig.layer,
    pooling: str = FeaturesConfig.pooling,
    frames: str = FeaturesConfig.frames,
    batch_size: int = FeaturesConfig.batch_size,
    rows: np.ndarray | Sequence[int] | None = None,
    normalization: Normalization | None = None,
    progress: bool = True,
    *,
    loading: Loading = NO_WORKERS,
    progress_log: ProgressLog | None = None,
) -> np.ndarray:
    """``(N, D)`` float32 features of uint8 clips ``(N, T, H, W, 3)`` (a memory-mapped cache is fine).

    ``layer``, ``pooling``, ``frames`` and ``batch_size`` are the ``features`` keys (their defaults the
    block's). ``rows`` selects (and orders) clips of ``clips`` without loading the others; ``batch_size``
    counts frames per forward pass. ``normalization`` overrides the (mean, std) read from the model's
    image-processor config (see :func:`image_normalization`). Frames are resized to
    :func:`model_input_size`; the hidden state ``layer`` is pooled after the model's final LayerNorm
    (``layer=-1``: ``last_hidden_state``, the DINO image feature with ``pooling="cls"``).

    Frames are read ahead by ``loading`` (the loader workers) and preprocessed on the model's device;
    ``progress_log`` counts frames.
    """
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be uint8 (N, T, H, W, 3), got shape {clips.shape}")
    if clips.dtype != np.uint8:
        raise TypeError(f"clips must be uint8, got {clips.dtype}")
    if pooling not in POOLINGS:
        raise ValueError(f"features.pooling must be one of {POOLINGS}, got {pooling!r}")
    if batch_size < 1:
        raise ValueError(f"features.batch_size must be >= 1, got {batch_size}")
    n_layers = int(model.config.num_hidden_layers)
    if not -(n_layers + 1) <= layer <= n_layers:
        raise ValueError(
            f"features.layer {layer} out of range: the model has {n_layers + 1} hidden states "
            f"(embeddings + {n_layers} layers), valid {-(n_layers + 1)} … {n_layers}"
        )
    row_idx = np.arange(clips.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    if row_idx.size and (row_idx.min() < 0 or row_idx.max() >= clips.shape[0]):
        raise IndexError(f"clip rows out of range for a cache of {clips.shape[0]} clips")
    frame_idx = _frame_indices(clips.shape[1], frames)
    n, per_clip, dim = len(row_idx), len(frame_idx), int(model.config.hidden_size)
    if normalization is None:
        normalization = image_normalization(model.name_or_path) if model.name_or_path else (FALLBACK_MEAN, FALLBACK_STD)
    device = next(iter(model.parameters())).device
    mean = torch.tensor(normalization[0], dtype=torch.float32).view(1, -1, 1, 1).to(device)
    std = torch.tensor(normalization[1], dtype=torch.float32).view(1, -1, 1, 1).to(device)
    size, forward_kwargs = model_input_size(model)
    skip = _prefix_tokens(model)
    last = layer in (-1, n_layers)
    norm = None if last else _final_norm(model)
    if not last and norm is None:
        log.warning(
            "feature model %s has no final `layernorm`: layer %d is pooled un-normalised", model.name_or_path, layer
        )

    total = n * per_clip
    jobs = [(start, min(start + batch_size, total)) for start in range(0, total, batch_size)]
    chunks: list[torch.Tensor] = []
    batches = device_batches(ReadFrames(clips, row_idx, frame_idx), jobs, device=device, loading=loading,
                             describe=lambda job: f"frames {job[0]}..{job[1]}", name="features")
    with torch.no_grad(), contextlib.closing(batches):
        for (start, stop), batch in zip(jobs, progress_bar(batches, total=len(jobs), desc="features", unit="batch",
                                                           enabled=progress and total > 0), strict=True):
            pixels = _preprocess(batch, size, mean, std)
            if last:  # already through the final norm
                hidden = model(pixel_values=pixels, **forward_kwargs).last_hidden_state  # (B, L, D)
            else:
                hidden = model(pixel_values=pixels, output_hidden_states=True, **forward_kwargs).hidden_states[layer]
                hidden = norm(hidden) if norm is not None else hidden
            pooled = hidden[:, 0] if pooling == "cls" else hidden[:, skip:].mean(dim=1)
            chunks.append(pooled.detach())
            if progress_log is not None:
                progress_log.update(stop - start)
    out = to_host(chunks, dim)
    return out.reshape(n, per_clip, dim).mean(axis=1, dtype=np.float64).astype(np.float32) if per_clip > 1 else out


class ReadFrames:
    """The loader's read of a batch of frames: job ``(start, stop)`` of the flat (clip, frame) list.

    Only the batch's frames are gathered; reading a memmap by (row, frame) index pairs keeps memory at
    one batch whatever the cache size.
    """

    def __init__(self, clips: np.ndarray | GroupCache, rows: np.ndarray, frames: np.ndarray) -> None:
        self.clips, self.rows, self.frames = clips, rows, frames

    def __call__(self, job: tuple[int, int]) -> np.ndarray:
        clip_pos, frame_pos = np.divmod(np.arange(*job), len(self.frames))
        return np.ascontiguousarray(self.clips[self.rows[clip_pos], self.frames[frame_pos]])


def _read_clip_table(path: str | os.PathLike[str], n_cache: int) -> pa.Table:
    table = read_table(path)
    missing = [c for c in ("clip_id", "cache_row") if c not in table.column_names]
    if missing:
        raise KeyError(f"clip table {path} lacks column(s) {missing}")
    rows = table.column("cache_row").to_numpy()
    if rows.size and (rows.min() < 0 or rows.max() >= n_cache):
        bad = int(np.flatnonzero((rows < 0) | (rows >= n_cache))[0])
        raise IndexError(f"clip table {path} row {bad}: cache_row {rows[bad]} outside its cache of {n_cache} clips")
    return table.select(["clip_id", "cache_row"])


def extract_shard(
    *,
    clip_tables: Sequence[str | os.PathLike[str]],
    clip_caches: Sequence[str | os.PathLike[str]],
    model_dir: str | os.PathLike[str],
    features: FeaturesConfig,
    shard: int,
    n_shards: int,
    out_path: str | os.PathLike[str],
    threads: int | None = None,
    loading: Loading = NO_WORKERS,
    device: torch.device | str | None = None,
) -> int:
    """Features of shard ``shard``/``n_shards`` of all clips; writes ``clip_id, embedding`` Parquet.

    Clips are the concatenation of the clip indexes ``clip_tables`` in the order given (read through
    ``datasets.clip_dataset.GroupCache``: any cache format; ``clip_caches`` must be exactly the shard
    files they name); the shard is the row range ``utils.io.shard_bounds`` of that concatenation,
    so the gathered shards equal an unsharded run. Returns the number of rows written. ``loading``:
    the loader workers (``features.loader_workers``); ``device``: default the one training would use.
    """
    if threads:
        torch.set_num_threads(int(threads))
    # One clip index per table; its shard files (any cache format) must be the declared caches.
    caches = [GroupCache(path) for path in clip_tables]
    check_declared_caches(caches, clip_caches)
    tables = [_read_clip_table(t, len(c)) for t, c in zip(clip_tables, caches, strict=True)]
    total = sum(t.num_rows for t in tables)
    start, stop = shard_bounds(total, shard, n_shards)

    dev = EvalDevice.choose(device=device)
    model = load_feature_model(model_dir)
    torch.nn.Module.to(model, dev.device)  # in place: a module moves its own parameters
    normalization = image_normalization(model_dir)
    log.info(
        "shard %d/%d: clips %d..%d of %d; model %s, layer %s, pooling %s, frames %s, normalisation mean %s std %s; "
        "on %s, %d loader worker(s)", shard, n_shards, start, stop, total, model_dir, features.layer,
        features.pooling, features.frames, *normalization, dev.device, loading.workers,
    )
    per_clip = len(_frame_indices(caches[0].clip_shape[0], features.frames)) if caches else 1
    progress = ProgressLog(log, (stop - start) * per_clip, what=f"features {Path(out_path).name}", unit="frames")
    ids: list[pa.Array] = []
    feats: list[np.ndarray] = []
    offset = 0
    for path, table, cache in zip(clip_tables, tables, caches, strict=True):
        lo, hi = max(start - offset, 0), min(stop - offset, table.num_rows)
        offset += table.num_rows
        if lo >= hi:
            continue
        part = table.slice(lo, hi - lo)
        log.info("  %s: %d clips", path, part.num_rows)
        feats.append(
            extract_features(
                model,
                cache,
                layer=features.layer,
                pooling=features.pooling,
                frames=features.frames,
                batch_size=features.batch_size,
                rows=part.column("cache_row").to_numpy(),
                normalization=normalization,
                loading=loading,
                progress_log=progress,
            )
        )
        ids.append(part.column("clip_id").combine_chunks())
    dim = int(model.config.hidden_size)
    id_type = tables[0].schema.field("clip_id").type if tables else pa.string()
    schema = pa.schema([pa.field("clip_id", id_type), pa.field("embedding", pa.list_(pa.float32(), dim))])
    matrix = np.concatenate(feats) if feats else np.zeros((0, dim), dtype=np.float32)
    clip_ids = pa.concat_arrays(ids) if ids else pa.array([], type=id_type)
    out = table_from_columns({"clip_id": clip_ids, "embedding": embedding_array(matrix)}, schema)
    write_table(
        out,
        out_path,
        metadata=provenance(
            "extract_features", features.shaping(), model=str(model_dir), shard=shard, n_shards=n_shards,
            normalization={"mean": list(normalization[0]), "std": list(normalization[1])},
        ),
    )
    log.info("wrote %d x %d features to %s", out.num_rows, dim, out_path)
    return out.num_rows
