"""Atomic file output and Parquet tables with explicit schemas and provenance metadata.

Every artifact of the workflow goes through these helpers so that a crashed job never leaves a
half-written file behind (write to a temp file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from devcurriculum import __version__

PathLike = str | os.PathLike[str]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temp file keeps the final suffix (``.npy``, ``.parquet``, ``.png``) because some writers
    choose their format from it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.", suffix=suffix if suffix is not None else final.suffix
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; results are shared with collaborators, so give the usual umask mode.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; swap it into place only if the block succeeds.

    A crash never leaves a half-written model folder that ``from_pretrained`` would load. An existing
    ``path`` is moved aside first (``os.replace`` cannot rename onto a non-empty folder) and then deleted.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        yield tmp
        # mkdtemp (and some writers) create private files; results are shared with collaborators
        os.chmod(tmp, 0o777 & ~_UMASK)
        for child in tmp.rglob("*"):
            os.chmod(child, (0o777 if child.is_dir() else 0o666) & ~_UMASK)
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old."))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_table_file(path: PathLike, *, text_columns: Sequence[str] = (), error: type[Exception] = ValueError) -> Any:
    """A CSV or Parquet file as a DataFrame (empty when the file is); ``text_columns`` stay text in CSVs.

    Reading labels and ids as text keeps ``"007"`` as written; a bad value is then reported as written.
    An unreadable file or another suffix raises ``error`` naming the file.
    """
    import pandas as pd

    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(p)
        if suffix in {".csv", ".txt"}:
            return pd.read_csv(p, dtype={c: "string" for c in text_columns}, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        raise error(f"manifest {p}: cannot be read ({exc})") from exc
    raise error(f"manifest {p}: unsupported file type {suffix!r} (use .csv or .parquet)")


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_npy(path: PathLike, array: np.ndarray) -> None:
    """Write a ``.npy`` file atomically (memory-mappable with ``np.load(mmap_mode='r')``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def embedding_array(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """An (N, D) float matrix as a ``fixed_size_list<float32>[D]`` Arrow column."""
    mat = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32))
    if mat.ndim != 2:
        raise ValueError(f"embedding matrix must be 2-D (N, D), got shape {mat.shape}")
    flat = pa.array(mat.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, mat.shape[1])


def embedding_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Inverse of :func:`embedding_array`: an (N, D) float32 matrix, without a Python-level loop."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_fixed_size_list(column.type):
        raise TypeError(f"expected a fixed_size_list column, got {column.type}")
    dim = column.type.list_size
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.astype(np.float32, copy=False).reshape(len(column), dim)


def provenance(stage: str, config: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, str]:
    """Schema metadata recorded with every table: which stage wrote it, from which config block."""
    meta = {"devcurriculum.stage": stage, "devcurriculum.version": __version__}
    if config is not None:
        meta["devcurriculum.config"] = json.dumps(config, sort_keys=True, default=_json_default)
    for key, value in extra.items():
        meta[f"devcurriculum.{key}"] = value if isinstance(value, str) else json.dumps(value, default=_json_default)
    return meta


def write_table(
    table: pa.Table,
    path: PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``table`` to Parquet (zstd) atomically, merging ``metadata`` into its schema metadata."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def table_from_columns(
    columns: Mapping[str, Any],
    schema: pa.Schema,
) -> pa.Table:
    """Build a table with an explicit schema; a column missing from ``columns`` is an error."""
    missing = [f.name for f in schema if f.name not in columns]
    if missing:
        raise KeyError(f"missing columns for schema: {missing}")
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value.cast(field.type) if value.type != field.type else value)
        else:
            arrays.append(pa.array(value, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The devcurriculum provenance metadata of a Parquet file, decoded."""
    meta = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"devcurriculum.")}


def gather_tables(parts: Sequence[PathLike], out: PathLike, metadata: Mapping[str, str] | None = None) -> int:
    """Concatenate shard tables (same schema) into one file, in the order given. Returns the row count."""
    if not parts:
        raise ValueError(f"no shard files to gather into {out}")
    tables = [pq.read_table(p) for p in parts]
    first = tables[0].schema
    for p, t in zip(parts, tables, strict=True):
        if not t.schema.equals(first, check_metadata=False):
            raise ValueError(f"shard {p} has schema {t.schema} but the first shard has {first}")
    combined = pa.concat_tables(tables)
    meta = dict(first.metadata or {})
    combined = combined.replace_schema_metadata(meta)
    write_table(combined, out, metadata=metadata)
    return combined.num_rows


def shard_bounds(n_items: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Contiguous [start, stop) of shard ``shard`` out of ``n_shards`` (sizes differ by at most one)."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    base, extra = divmod(n_items, n_shards)
    start = shard * base + min(shard, extra)
    return start, start + base + (1 if shard < extra else 0)
