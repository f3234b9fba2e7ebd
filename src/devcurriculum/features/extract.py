"""DINO-style clip features from a ViT: the input of the prototype difficulty scores (ALGORITHMS.md §B).

A clip's feature is a token summary of one hidden state of a (pretrained or random) ViT applied to
its frames: ``hidden_states[layer]`` of shape (B, L, D), pooled over tokens (``cls``: token 0;
``mean``: the average of the patch tokens, i.e. over dim 1 of (B, L, D), never over D), from the
clip's middle frame or averaged over all its frames.

Frames are read from the memory-mapped clip cache (never from the videos), scaled to [0, 1], resized
to the model's ``image_size`` when they differ, then normalised with the mean/std of the model's
image-processor config (``preprocessor_config.json``: ImageNet statistics for DINO checkpoints) if it
has one, otherwise with mean 0.5 / std 0.25 per channel, the project's pixel normalisation
(ALGORITHMS.md §A). ``hidden_states[layer]`` is the raw residual stream; the final LayerNorm that
``last_hidden_state`` applies is not applied.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoModel, PreTrainedModel
from transformers.image_processing_utils import ImageProcessingMixin

from devcurriculum.config import FeaturesConfig
from devcurriculum.utils.io import embedding_array, provenance, shard_bounds, table_from_columns, write_table

log = logging.getLogger("devcurriculum.features.extract")

POOLINGS = ("cls", "mean")
FRAME_MODES = ("middle", "mean")
FALLBACK_MEAN = (0.5, 0.5, 0.5)
FALLBACK_STD = (0.25, 0.25, 0.25)

Normalization = tuple[Sequence[float], Sequence[float]]


def load_feature_model(model_dir_or_id: str | os.PathLike[str]) -> PreTrainedModel:
    """``AutoModel.from_pretrained`` in eval mode, float32; a local directory never touches the network."""
    ref = str(model_dir_or_id)
    local = Path(ref).is_dir()
    if not local and (Path(ref).is_absolute() or ref.startswith(".")):
        raise FileNotFoundError(f"feature model directory {ref} does not exist (features.model)")
    try:
        model = AutoModel.from_pretrained(ref, local_files_only=local)
    except OSError as err:
        raise OSError(
            f"cannot load the feature model {ref!r} (features.model): {err}. Without network access use a "
            "local directory, or a hub id already in the Hugging Face cache."
        ) from err
    return model.float().eval()


def image_normalization(model_dir_or_id: str | os.PathLike[str]) -> Normalization:
    """Per-channel (mean, std) from the model's image-processor config, else (0.5, 0.25).

    A processor with ``do_normalize: false`` gets (0, 1): pixels stay in [0, 1] as it expects.
    """
    ref = str(model_dir_or_id)
    try:
        proc, _ = ImageProcessingMixin.get_image_processor_dict(ref, local_files_only=Path(ref).is_dir())
    except (OSError, ValueError):
        proc = {}
    if not proc:
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
    frames_u8: np.ndarray, size: tuple[int, int], mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float32 (B, 3, h, w) at the model's image size."""
    x = torch.from_numpy(np.ascontiguousarray(frames_u8)).permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return (x - mean) / std


def extract_features(
    model: PreTrainedModel,
    clips: np.ndarray,
    layer: int = -1,
    pooling: str = "cls",
    frames: str = "middle",
    batch_size: int = 64,
    rows: np.ndarray | Sequence[int] | None = None,
    normalization: Normalization | None = None,
    progress: bool = True,
) -> np.ndarray:
    """``(N, D)`` float32 features of uint8 clips ``(N, T, H, W, 3)`` (a memory-mapped cache is fine).

    ``rows`` selects (and orders) clips of ``clips`` without loading the others; ``batch_size``
    counts frames per forward pass. ``normalization`` overrides the (mean, std) read from the model's
    image-processor config (see :func:`image_normalization`).
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
    mean = torch.tensor(normalization[0], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(normalization[1], dtype=torch.float32).view(1, -1, 1, 1)
    size = _model_image_size(model)
    skip = _prefix_tokens(model)

    out = np.empty((n * per_clip, dim), dtype=np.float32)
    total = n * per_clip
    starts = range(0, total, batch_size)
    with torch.no_grad():
        for start in tqdm(starts, desc="features", unit="batch", disable=not progress or total == 0):
            flat = np.arange(start, min(start + batch_size, total))
            clip_pos, frame_pos = np.divmod(flat, per_clip)
            # Gather only this batch's frames; reading a memmap by (row, frame) index pairs keeps
            # memory at one batch whatever the cache size.
            batch = clips[row_idx[clip_pos], frame_idx[frame_pos]]
            pixels = _preprocess(batch, size, mean, std)
            hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states[layer]  # (B, L, D)
            pooled = hidden[:, 0] if pooling == "cls" else hidden[:, skip:].mean(dim=1)
            out[start : start + len(flat)] = pooled.float().numpy()
    return out.reshape(n, per_clip, dim).mean(axis=1, dtype=np.float64).astype(np.float32) if per_clip > 1 else out


def _read_clip_table(path: str | os.PathLike[str], n_cache: int) -> pa.Table:
    table = pq.read_table(path)
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
) -> int:
    """Features of shard ``shard``/``n_shards`` of all clips; writes ``clip_id, embedding`` Parquet.

    Clips are the concatenation of ``clip_tables`` in the order given (each paired with the cache of
    the same position); the shard is the row range ``utils.io.shard_bounds`` of that concatenation,
    so the gathered shards equal an unsharded run. Returns the number of rows written.
    """
    if len(clip_tables) != len(clip_caches):
        raise ValueError(f"{len(clip_tables)} clip tables but {len(clip_caches)} clip caches")
    if threads:
        torch.set_num_threads(int(threads))
    caches = [np.load(path, mmap_mode="r") for path in clip_caches]
    tables = [_read_clip_table(t, c.shape[0]) for t, c in zip(clip_tables, caches, strict=True)]
    total = sum(t.num_rows for t in tables)
    start, stop = shard_bounds(total, shard, n_shards)

    model = load_feature_model(model_dir)
    normalization = image_normalization(model_dir)
    log.info(
        "shard %d/%d: clips %d..%d of %d; model %s, layer %s, pooling %s, frames %s, normalisation mean %s std %s",
        shard, n_shards, start, stop, total, model_dir, features.layer, features.pooling, features.frames, *normalization,
    )
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
