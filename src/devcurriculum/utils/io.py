"""Atomic file output and Parquet tables with explicit schemas and provenance metadata.

Every artifact of the workflow goes through these helpers so that a crashed job never leaves a
half-written file behind (write to a temp file in the same folder, then ``os.replace``).

Silent corruption (a flipped bit on disk or in transit) is caught where we read our own files:
Parquet tables carry page checksums (CRC32, verified by :func:`read_table`); ``.npy`` / ``.jpgs`` caches and
``.safetensors`` weights get a ``<file>.sha256`` sidecar (``sha256sum`` format, so
``sha256sum -c model.safetensors.sha256`` works too) written with them by :func:`atomic_path` and
checked by :func:`verify_checksum` (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
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
from devcurriculum.utils.config import config_differences
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.utils.io")

#: files that get a ``<file>.sha256`` sidecar whenever they are written through :func:`atomic_path`
CHECKSUMMED_SUFFIXES = (".npy", ".jpgs", ".safetensors")  # .jpgs: JPEG clip cache shards
CHECKSUM_SUFFIX = ".sha256"
_HASH_CHUNK = 1 << 20


class ChecksumError(OSError):
    """A file's content does not match the checksum recorded when it was written; names the file."""


class ProvenanceMismatch(ValueError):
    """A table was computed from another config than the one at hand; names the table and the keys."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temp file keeps the final suffix (``.npy``, ``.parquet``, ``.png``) because some writers
    choose their format from it. A ``.npy`` or ``.safetensors`` file gets its sha256 sidecar
    (:func:`checksum_path`) before it is moved into place.
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
        if final.suffix in CHECKSUMMED_SUFFIXES:
            write_checksum(final, sha256_file(tmp_path))
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
    An unreadable file, a CSV row with more fields than the header (pandas would shift every column
    of the file by one, or drop the extra values) or another suffix raises ``error`` naming the file
    (and the rows: row 1 = the first row after the header).
    """
    import pandas as pd

    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(p, page_checksum_verification=True)
        if suffix in {".csv", ".txt"}:
            width, overlong = _csv_width(p)
            if overlong:
                raise error(f"manifest {p}: {overlong}")
            # index_col=False: never take the first column as the index (the silent shift); usecols:
            # the header's columns only (what lies beyond them was checked above to be empty)
            return pd.read_csv(p, dtype={c: "string" for c in text_columns}, skipinitialspace=True,
                               index_col=False, usecols=range(width) if width else None)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except error:
        raise
    except (OSError, ValueError) as exc:
        raise error(f"manifest {p}: cannot be read ({exc})") from exc
    raise error(f"manifest {p}: unsupported file type {suffix!r} (use .csv or .parquet)")


def _csv_width(path: Path, max_shown: int = 10) -> tuple[int, str | None]:
    """The header's field count, and 'row 1 (4 fields) has more fields than the header's 3 ...' or None.

    Empty trailing fields (``a,b,c,`` from a spreadsheet export) carry nothing and are allowed.
    Blank lines are skipped as pandas skips them, so row numbers match the manifest errors'.
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = (r for r in csv.reader(fh) if r)
        header = next(rows, None)
        if header is None:
            return 0, None
        overlong = [(i, len(r)) for i, r in enumerate(rows, start=1)
                    if len(r) > len(header) and any(v.strip() for v in r[len(header):])]
    if not overlong:
        return len(header), None
    shown = ", ".join(f"{i} ({n} fields)" for i, n in overlong[:max_shown])
    more = f" and {len(overlong) - max_shown} more" if len(overlong) > max_shown else ""
    plural = "s" if len(overlong) > 1 else ""
    return len(header), (
        f"row{plural} {shown}{more} ha{'ve' if plural else 's'} more fields than the header's {len(header)} "
        f"({', '.join(header)}); quote values that contain commas, or add the column to the header"
    )


# ---- checksums -----------------------------------------------------------------------------------


def sha256_file(path: PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: PathLike) -> Path:
    """``<file>.sha256`` next to ``path``."""
    p = Path(path)
    return p.with_name(p.name + CHECKSUM_SUFFIX)


def write_checksum(path: PathLike, digest: str | None = None) -> Path:
    """Write ``<file>.sha256`` atomically (``sha256sum`` format); ``digest`` defaults to the file's own."""
    p = Path(path)
    digest = digest or sha256_file(p)
    sidecar = checksum_path(p)
    atomic_write_text(sidecar, f"{digest}  {p.name}\n")
    return sidecar


def recorded_checksum(path: PathLike) -> str | None:
    """The sha256 recorded in ``<file>.sha256``, or None when there is no sidecar."""
    sidecar = checksum_path(path)
    try:
        text = sidecar.read_text()
    except FileNotFoundError:
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ChecksumError(f"checksum file {sidecar} is not a sha256 line (got {text[:80]!r})")
    return digest


def verify_checksum(path: PathLike) -> bool:
    """Check a file against its ``<file>.sha256``; True when verified, False when none was recorded.

    Raises :class:`ChecksumError` naming the file when the content differs from what was written.
    A file without a sidecar (written by another tool, or by an older version) is logged, not rejected.
    """
    p = Path(path)
    expected = recorded_checksum(p)
    if expected is None:
        log.info("no checksum recorded for %s (no %s): not verified", p, checksum_path(p).name)
        return False
    actual = sha256_file(p)
    if actual != expected:
        raise ChecksumError(
            f"{p} is corrupt: its sha256 is {actual} but {checksum_path(p).name} recorded {expected} when it "
            "was written (a damaged disk or copy, or the file was rewritten without its checksum); rerun the "
            "rule that writes it"
        )
    return True


def link_file(source: PathLike, target: PathLike) -> None:
    """Hard-link ``source`` to ``target`` (a copy where links are not supported), with its checksum sidecar."""
    src, dst = Path(source), Path(target)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst)
    digest = recorded_checksum(src)
    if digest is not None:
        write_checksum(dst, digest)


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
    """Write ``table`` to Parquet (zstd, page checksums) atomically, merging ``metadata`` into its schema metadata."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)


def read_table(path: PathLike, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a Parquet table, verifying every page checksum it carries; a corrupt page names the file.

    Tables written by :func:`write_table` carry a CRC32 per page; without verification pyarrow would
    return whatever a flipped bit decodes to. Pages without a checksum (other writers) are read as is.

    The file is opened once. ``pq.read_table(path)`` and ``pd.read_parquet(path)`` open the path
    twice (footer, then pages): when an atomic rewrite (a live ``metrics.parquet``) lands between
    the two, they read the new file's pages with the old footer and fail ("Page was smaller than
    expected"); one open file is one version.
    """
    try:
        with open(path, "rb") as handle:
            return pq.ParquetFile(handle, page_checksum_verification=True).read(
                columns=list(columns) if columns is not None else None
            )
    except OSError as exc:
        if "CRC" in str(exc) or "checksum" in str(exc):
            raise ChecksumError(f"{path} is corrupt: {exc}; rerun the rule that writes it") from exc
        raise


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


def check_table_config(path: PathLike, expected: Mapping[str, Any], *, given_as: str) -> None:
    """Check the config recorded in a table's provenance (``devcurriculum.config``) against ``expected``.

    Raises :class:`ProvenanceMismatch` naming the table and every differing key with both values
    (``given_as`` names the config at hand, e.g. ``models.videomae``).
    """
    raw = read_metadata(path).get("devcurriculum.config")
    if raw is None:
        raise ProvenanceMismatch(f"{path} records no config in its metadata: it was not written by this workflow")
    differences = config_differences(json.loads(raw), expected, recorded_as=Path(path).name, given_as=given_as)
    if differences:
        raise ProvenanceMismatch(
            f"{path} was computed with another config than {given_as} of this workflow: " + "; ".join(differences)
            + ". Does another workflow write to the same results folder? Give each its own `results:`"
        )


def gather_tables(parts: Sequence[PathLike], out: PathLike, metadata: Mapping[str, str] | None = None) -> int:
    """Concatenate shard tables (same schema) into one file, in the order given. Returns the row count."""
    if not parts:
        raise ValueError(f"no shard files to gather into {out}")
    tables = [read_table(p) for p in parts]
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
