"""Parquet tables with explicit schemas and provenance metadata: write, read (page checksums verified), gather.

Every table of the workflow is written by :func:`write_table` (zstd, a CRC32 per page, atomically)
with :func:`provenance` in its schema metadata: which stage wrote it, from which config block.
:func:`read_table` verifies the page checksums, so a flipped bit names the file (docs/reliability.md);
it is the only way a module reads a table (:func:`read_schema` / :func:`read_metadata` for the footer
alone; tests/utils/test_table_reads.py fails on a ``pq.read_table`` or ``pd.read_parquet`` elsewhere).
Shards of a table are row ranges (:func:`shard_bounds`) written separately and put back together by
:func:`gather_tables`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from devcurriculum import __version__
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.checksums import ChecksumError
from devcurriculum.utils.config import config_differences
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.serialize import json_default


class ProvenanceMismatch(ValueError):
    """A table was computed from another config than the one at hand; names the table and the keys."""


def provenance(stage: str, config: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, str]:
    """Schema metadata recorded with every table: which stage wrote it, from which config block."""
    meta = {"devcurriculum.stage": stage, "devcurriculum.version": __version__}
    if config is not None:
        meta["devcurriculum.config"] = json.dumps(config, sort_keys=True, default=json_default)
    for key, value in extra.items():
        meta[f"devcurriculum.{key}"] = value if isinstance(value, str) else json.dumps(value, default=json_default)
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


def read_schema(path: PathLike) -> pa.Schema:
    """The schema (column names, types, metadata) of a Parquet file, from its footer alone.

    For a column check or the provenance before a read: the footer carries no page data (and no
    checksum of its own; a damaged footer fails to parse). The pages are verified by :func:`read_table`.
    """
    with open(path, "rb") as handle:
        return pq.ParquetFile(handle).schema_arrow


def count_rows(path: PathLike) -> int:
    """Rows of a Parquet file, from its footer alone (a progress total; :func:`read_table` verifies the pages)."""
    with open(path, "rb") as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The devcurriculum provenance metadata of a Parquet file, decoded."""
    meta = read_schema(path).metadata or {}
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
