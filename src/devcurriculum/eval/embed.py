"""Embeddings of a benchmark under one trained (or initial) model (rule ``embed``, sharded).

Each job rebuilds the objective from its config, loads the run's safetensors weights strictly, and
embeds a contiguous shard of the benchmark's clip cache with ``Objective.embed`` (DESIGN §6: mean
pooled last-layer tokens for VideoMAE / V-JEPA, pooled backbone features for SimCLR). The shards are
gathered afterwards with :func:`devcurriculum.utils.io.gather_tables` in shard order, so the gathered
table has the benchmark's row order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from devcurriculum.config import ClipConfig, ModelConfig
from devcurriculum.models.objective import Objective
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.io import (
    PathLike,
    embedding_array,
    provenance,
    shard_bounds,
    table_from_columns,
    write_table,
)

log = logging.getLogger("devcurriculum.eval.embed")


def embedding_schema(dim: int) -> pa.Schema:
    """item_id + ``fixed_size_list<float32>[dim]`` embedding."""
    return pa.schema(
        [
            pa.field("item_id", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def load_weights_strict(model: torch.nn.Module, weights_path: PathLike) -> None:
    """Load a safetensors state dict into ``model``; any missing, unexpected or mis-shaped key is an error.

    safetensors never executes pickled code (DESIGN §9). Checking the keys ourselves gives a message
    that names the file and the offending keys instead of torch's generic one.
    """
    from safetensors.torch import load_file

    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"model weights not found: {path}")
    state = load_file(str(path), device="cpu")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mis_shaped:
        raise ValueError(
            f"weights {path} do not match the model built from its config: "
            f"missing {_head(missing)}, unexpected {_head(unexpected)}, mis-shaped {_head(mis_shaped)}"
        )
    model.load_state_dict(state, strict=True)


def embed_shard(
    *,
    model: ModelConfig,
    clip: ClipConfig,
    weights: PathLike,
    bench_table: PathLike,
    bench_cache: PathLike,
    shard: int,
    n_shards: int,
    out_path: PathLike,
    batch_size: int = 64,
    threads: int | None = None,
) -> int:
    """Embed rows ``shard_bounds(N, shard, n_shards)`` of a benchmark; returns the rows written."""
    from devcurriculum.datasets.clip_dataset import to_model_batch
    from devcurriculum.models.registry import build_objective

    if threads is not None:
        set_threads(threads)
    items = pq.read_table(bench_table, columns=["item_id", "cache_row"])
    cache = np.load(bench_cache, mmap_mode="r")
    if cache.ndim != 5 or cache.dtype != np.uint8:
        raise ValueError(f"{bench_cache}: expected a uint8 (N, T, H, W, 3) clip cache, got {cache.dtype} {cache.shape}")
    rows = items.column("cache_row").to_numpy()
    if len(rows) and (rows.min() < 0 or rows.max() >= len(cache)):
        raise ValueError(f"{bench_table}: cache_row out of range for {bench_cache} with {len(cache)} clips")
    start, stop = shard_bounds(items.num_rows, shard, n_shards)

    objective = build_objective(model, clip)
    load_weights_strict(objective, weights)
    objective.eval()

    matrix = embed_rows(objective, cache, rows[start:stop], to_model_batch, batch_size, desc=f"embed shard {shard}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"non-finite embeddings from weights {weights} on {bench_table} rows {start}:{stop}")
    dim = matrix.shape[1]

    table = table_from_columns(
        {"item_id": items.column("item_id").slice(start, stop - start), "embedding": embedding_array(matrix)},
        embedding_schema(dim),
    )
    meta = provenance(
        "embed",
        model.shaping(),
        weights=str(weights),
        benchmark_table=str(bench_table),
        shard=f"{shard}/{n_shards}",
        rows=[start, stop],
    )
    write_table(table, out_path, metadata=meta)
    log.info("embedded rows %d:%d of %s -> %s (D=%d)", start, stop, bench_table, out_path, dim)
    return stop - start


def embed_rows(
    objective: Objective,
    cache: np.ndarray,
    rows: np.ndarray,
    to_batch: Callable[[np.ndarray], torch.Tensor],
    batch_size: int = 64,
    desc: str = "embed",
) -> np.ndarray:
    """``objective.embed`` of clips ``cache[rows]`` in batches, as a float32 ``(len(rows), D)`` matrix.

    Only one batch of clips is materialised at a time, so a memory-mapped cache of any size works.
    The caller sets eval mode; gradients are off here.
    """
    chunks: list[np.ndarray] = []
    with torch.no_grad():
        for lo in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch", leave=False):
            clips = np.ascontiguousarray(cache[rows[lo : lo + batch_size]])
            emb = objective.embed(to_batch(clips))
            if emb.ndim != 2 or emb.shape[0] != len(clips):
                raise ValueError(f"{type(objective).__name__}.embed returned shape {tuple(emb.shape)} for {len(clips)} clips")
            chunks.append(emb.detach().to(torch.float32).cpu().numpy())
        if not chunks:
            # An empty shard (more shards than items) still needs the width so the schemas of all
            # shards agree when they are gathered: embed one clip and keep none of it.
            if len(cache) == 0:
                raise ValueError("cannot infer the embedding size from an empty benchmark cache")
            dim = int(objective.embed(to_batch(np.array(cache[:1]))).shape[1])
            return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(chunks)


def _head(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return "[" + ", ".join(keys[:n]) + "]" + more
