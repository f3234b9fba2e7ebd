"""Embeddings of every benchmark under every stage checkpoint of one run (rule ``embed``, sharded).

One job per (run, shard) pays the start-up (interpreter, torch, model build) once for all of a run's
checkpoints and benchmarks: the untrained baseline has one checkpoint (after_stage 0), a trained run
one per curriculum stage (``checkpoints/after_stage{k}.safetensors``). Each checkpoint is loaded
strictly into the objective rebuilt from its config, and every benchmark's items of this shard
(``shard_bounds`` per benchmark) are embedded with ``Objective.embed`` (docs/evaluation.md "Embeddings"). The output is one
long table: ``after_stage, step, benchmark, item_id, embedding``.

Clips go through the inference data path (:mod:`devcurriculum.eval.batches`): uint8 batches read ahead
by ``evaluation.embed_loader_workers``, normalised on the device training would use (the GPU when
there is one), under bf16 autocast when the model trains in bf16. The log gets a progress line with
rate and ETA at least every 30 s (``utils.progress.ProgressLog``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from devcurriculum.config import ClipConfig, ModelConfig, PretrainConfig
from devcurriculum.eval.batches import NO_WORKERS, EvalDevice, Loading, device_batches, to_host
from devcurriculum.models.objective import Objective
from devcurriculum.train.checkpoint import verify_run
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import count_rows, provenance, read_table, shard_bounds, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import ProgressLog, progress_bar
from devcurriculum.utils.safe_load import load_npy, load_safetensors, safetensors_metadata

log = logging.getLogger("devcurriculum.eval.embed")


def embedding_schema(dim: int) -> pa.Schema:
    """after_stage, step, benchmark, item_id + ``fixed_size_list<float32>[dim]`` embedding."""
    return pa.schema(
        [
            pa.field("after_stage", pa.int64(), nullable=False),
            pa.field("step", pa.int64(), nullable=False),
            pa.field("benchmark", pa.string(), nullable=False),
            pa.field("item_id", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


@dataclass(frozen=True)
class Checkpoint:
    """One weights file of a run and where in training it was written (from its safetensors header)."""

    path: Path
    after_stage: int
    step: int

    @classmethod
    def read(cls, path: PathLike) -> Checkpoint:
        """``after_stage``/``step`` from the header; a file without them is the untrained model (0, 0)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"model weights not found: {p}")
        header = safetensors_metadata(p)
        return cls(p, int(header.get("after_stage", 0)), int(header.get("step", 0)))


def stage_weights(checkpoints_dir: PathLike | None = None, weights: PathLike | None = None) -> list[Path]:
    """A run's weights files: every ``after_stage*.safetensors`` of its checkpoints folder, else its one file."""
    if checkpoints_dir is not None:
        return sorted(Path(checkpoints_dir).glob("after_stage*.safetensors"))
    if weights is None:
        raise ValueError("need a checkpoints folder or a weights file")
    return [Path(weights)]


def read_stages(
    checkpoints: Sequence[PathLike], out_path: PathLike, *, network: Mapping[str, Any], model_key: str,
    run_spec: PathLike | None,
) -> list[Checkpoint]:
    """The checkpoints' headers in stage order, verified before anything is loaded (``verify_run``: each
    file's sha256 and, for a trained run, its ``run_spec`` against ``network``); none is an error naming
    the output they were meant for."""
    if not checkpoints:
        raise ValueError(f"no checkpoints to evaluate for {out_path}")
    stages = sorted((Checkpoint.read(p) for p in checkpoints), key=lambda c: c.after_stage)
    verify_run(weights=[c.path for c in stages], network=network, model_key=model_key, spec_file=run_spec)
    return stages


@dataclass(frozen=True)
class BenchmarkFiles:
    """A prepared benchmark: its item table and clip cache."""

    name: str
    table: Path
    cache: Path
    status: Path | None = None  # the status table (source fps per item), read for embeddings in seconds

    def clip_fps(self) -> np.ndarray:
        """Every item's clip frame rate in table order (NaN unknown; :func:`~devcurriculum.evalsets.benchmarks.benchmark_clip_fps`)."""
        from devcurriculum.evalsets.benchmarks import benchmark_clip_fps

        return benchmark_clip_fps(self.table, self.status)

    def n_items(self) -> int:
        """Items in the benchmark's table (from its Parquet footer)."""
        return count_rows(self.table)

    def rows(self) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """(item ids, cache rows, the memory-mapped cache), checked against each other."""
        items = read_table(self.table, columns=["item_id", "cache_row"])
        cache = load_npy(self.cache)
        if cache.ndim != 5 or cache.dtype != np.uint8:
            raise ValueError(f"{self.cache}: expected a uint8 (N, T, H, W, 3) clip cache, got {cache.dtype} {cache.shape}")
        rows = items.column("cache_row").to_numpy()
        if len(rows) and (rows.min() < 0 or rows.max() >= len(cache)):
            raise ValueError(f"{self.table}: cache_row out of range for {self.cache} with {len(cache)} clips")
        return items.column("item_id").combine_chunks(), rows, cache


def load_weights_strict(model: torch.nn.Module, weights_path: PathLike) -> None:
    """Load a safetensors state dict into ``model``; any missing, unexpected or mis-shaped key is an error.

    safetensors never executes pickled code (docs/reliability.md). Checking the keys ourselves gives a message
    that names the file and the offending keys instead of torch's generic one.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"model weights not found: {path}")
    state = load_safetensors(path)
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


def embed_run(
    *,
    model: ModelConfig,
    clip: ClipConfig,
    checkpoints: Sequence[PathLike],
    benchmarks: Sequence[BenchmarkFiles],
    shard: int,
    n_shards: int,
    out_path: PathLike,
    batch_size: int,
    threads: int | None = None,
    run_spec: PathLike | None = None,
    model_key: str = "the model config",
    loading: Loading = NO_WORKERS,
    precision: str = PretrainConfig.precision,
    device: torch.device | str | None = None,
) -> int:
    """Embed this shard of every benchmark under every checkpoint; returns the rows written.

    A trained run's ``run_spec`` is checked against ``model`` (named ``model_key`` in errors) and
    every checkpoint against its sha256 before anything is loaded. ``batch_size``: clips per forward
    pass (``evaluation.embed_batch_size``); ``loading``: the loader workers
    (``evaluation.embed_loader_workers``); ``precision``: the model's ``pretrain.precision`` (bf16
    autocast on CUDA); ``device``: default the one training would use.
    """
    from devcurriculum.datasets.clip_dataset import to_model_batch
    from devcurriculum.models.registry import build_network_objective, describe_network

    if threads is not None:
        set_threads(threads)
    stages = read_stages(checkpoints, out_path, network=model.network(), model_key=model_key, run_spec=run_spec)
    dev = EvalDevice.choose(precision, device)
    objective = build_network_objective(model, clip).to(dev.device)
    log.info(describe_network(model, objective))
    rates = clip_rates(objective, benchmarks)
    counts = {b.name: len(range(*shard_bounds(b.n_items(), shard, n_shards))) for b in benchmarks}
    progress = ProgressLog(log, len(stages) * sum(counts.values()), what=f"embed {Path(out_path).name}", unit="clips")
    log.info("embedding %d clip(s) x %d checkpoint(s) on %s%s, %d loader worker(s)", sum(counts.values()),
             len(stages), dev.device, " (bf16)" if dev.bf16 else "", loading.workers)
    columns: dict[str, list] = {name: [] for name in ("after_stage", "step", "benchmark", "item_id")}
    matrices: list[np.ndarray] = []
    for ckpt in stages:
        load_weights_strict(objective, ckpt.path)
        objective.eval()
        for bench in benchmarks:
            ids, rows, cache = bench.rows()
            start, stop = shard_bounds(len(rows), shard, n_shards)
            desc = f"embed {bench.name} after stage {ckpt.after_stage}"
            fps = rates[bench.name][start:stop] if bench.name in rates else None
            matrix = embed_rows(objective, cache, rows[start:stop], to_model_batch, batch_size, desc=desc, clip_fps=fps,
                                device=dev, loading=loading, progress=progress)
            if not np.isfinite(matrix).all():
                raise ValueError(f"non-finite embeddings from weights {ckpt.path} on {bench.table} rows {start}:{stop}")
            n = len(matrix)
            columns["after_stage"] += [ckpt.after_stage] * n
            columns["step"] += [ckpt.step] * n
            columns["benchmark"] += [bench.name] * n
            columns["item_id"] += ids.slice(start, stop - start).to_pylist()
            matrices.append(matrix)
    matrix = np.concatenate(matrices)
    table = table_from_columns({**columns, "embedding": embedding_array(matrix)}, embedding_schema(matrix.shape[1]))
    meta = provenance(
        "embed",
        model.network(readout=True),
        checkpoints=[str(c.path) for c in stages],
        benchmarks={b.name: str(b.table) for b in benchmarks},
        shard=f"{shard}/{n_shards}",
    )
    write_table(table, out_path, metadata=meta)
    log.info("embedded %d rows (%d checkpoint(s) x %d benchmark(s), D=%d) -> %s",
             table.num_rows, len(stages), len(benchmarks), matrix.shape[1], out_path)
    return table.num_rows


def clip_rates(objective: Objective, benchmarks: Sequence[BenchmarkFiles]) -> dict[str, np.ndarray]:
    """Per benchmark, its items' clip frame rates when ``objective`` embeds in seconds (else empty).

    A benchmark with items of unknown rate (images, ``sklearn_digits``, no status table) is named
    once here: those items fall back on ``gap`` clip frames.
    """
    gap_s = objective.embed_gap_seconds
    if gap_s is None:
        return {}
    rates = {}
    for bench in benchmarks:
        fps = bench.clip_fps()
        unknown = int(np.count_nonzero(~np.isfinite(fps)))
        if unknown:
            log.warning(
                "benchmark %s: %d of %d items have no frame rate (images, or no source fps): their embedding "
                "pairs clip frames 0 and gap (%s), not %g s apart", bench.name, unknown, len(fps),
                getattr(objective, "gap", "?"), gap_s,
            )
        rates[bench.name] = fps
    return rates


class ReadRows:
    """``cache[rows[lo:hi]]`` for a job ``(lo, hi)``: the loader's read of a batch of benchmark clips."""

    def __init__(self, cache: np.ndarray, rows: np.ndarray) -> None:
        self.cache, self.rows = cache, rows

    def __call__(self, job: tuple[int, int]) -> np.ndarray:
        lo, hi = job
        return np.ascontiguousarray(self.cache[self.rows[lo:hi]])


def embed_rows(
    objective: Objective,
    cache: np.ndarray,
    rows: np.ndarray,
    to_batch: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    desc: str = "embed",
    clip_fps: np.ndarray | None = None,
    *,
    device: EvalDevice | None = None,
    loading: Loading = NO_WORKERS,
    progress: ProgressLog | None = None,
) -> np.ndarray:
    """``objective.embed`` of clips ``cache[rows]`` in batches, as a float32 ``(len(rows), D)`` matrix.

    ``to_batch`` turns a uint8 ``(B, T, H, W, 3)`` tensor, already on the device, into the model's
    input. With ``clip_fps`` (one rate per row) the objective's :meth:`~Objective.embed_clips` gets
    each batch's rates. Only the batches in flight are materialised, so a memory-mapped cache of any
    size works. ``device`` (default: the objective's parameters' device, fp32), ``loading`` and
    ``progress`` (counted in clips) come from :func:`embed_run`. The caller sets eval mode; gradients
    are off here.
    """
    dev = device or EvalDevice(_device_of(objective))
    jobs = [(lo, min(lo + batch_size, len(rows))) for lo in range(0, len(rows), batch_size)]
    chunks: list[torch.Tensor] = []
    batches = device_batches(ReadRows(cache, rows), jobs, device=dev.device, loading=loading,
                             describe=lambda job: f"{desc}: rows {job[0]}..{job[1]}", name=desc)
    with torch.no_grad(), contextlib.closing(batches):
        for (lo, hi), clips in zip(jobs, progress_bar(batches, total=len(jobs), desc=desc, unit="batch", leave=False),
                                   strict=True):
            with dev.autocast():
                if clip_fps is not None:
                    emb = objective.embed_clips(to_batch(clips), clip_fps[lo:hi])
                else:
                    emb = objective.embed(to_batch(clips))
            if emb.ndim != 2 or emb.shape[0] != hi - lo:
                raise ValueError(f"{type(objective).__name__}.embed returned shape {tuple(emb.shape)} for {hi - lo} clips")
            chunks.append(emb.detach())
            if progress is not None:
                progress.update(hi - lo)
        if not chunks:
            # An empty shard (more shards than items) still needs the width so the schemas of all
            # shards agree when they are gathered: embed one clip and keep none of it.
            if len(cache) == 0:
                raise ValueError("cannot infer the embedding size from an empty benchmark cache")
            one = torch.from_numpy(np.array(cache[:1])).to(dev.device)
            with dev.autocast():
                dim = int(objective.embed(to_batch(one)).shape[1])
            return np.zeros((0, dim), dtype=np.float32)
    return to_host(chunks)


def _device_of(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (the CPU for a module without parameters)."""
    first = next(iter(module.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _head(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return "[" + ", ".join(keys[:n]) + "]" + more
