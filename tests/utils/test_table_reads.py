"""Every project table is read through ``utils.io.read_table`` (issue 25, item 2).

Tables are written with a CRC32 per page, but only a reader that asks verifies them: ``pq.read_table``
and ``pd.read_parquet`` return whatever a flipped bit decodes to (203 of 300 single-bit flips in a
features table were read silently; a flip in ``features.parquet`` changed all 24 distances and 16 of 24
difficulties). ``read_table`` verifies every page and reads through one open file. This test scans
``src/`` and ``scripts/`` for any other way to read Parquet, so the next module cannot bypass it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNED = (REPO / "src", REPO / "scripts")

#: module-level names that read Parquet (writers are fine: ``write_table``, ``ParquetWriter``)
WRITERS = {"pyarrow.parquet.write_table", "pyarrow.parquet.ParquetWriter", "pyarrow.parquet.write_metadata"}
READ_PREFIXES = ("pyarrow.parquet.", "pyarrow.dataset.", "duckdb.", "polars.read_parquet", "polars.scan_parquet")
READ_NAMES = {"pandas.read_parquet"}

#: the only modules allowed to read Parquet another way, and why
ALLOWED: dict[str, tuple[set[str], str]] = {
    "src/devcurriculum/utils/io.py": (
        {"pyarrow.parquet.ParquetFile"},
        "the one reader: read_table opens the file once with page_checksum_verification=True, and "
        "read_schema reads the footer of the same open file (a footer has no checksum of its own)",
    ),
    "src/devcurriculum/utils/manifest_files.py": (
        {"pandas.read_parquet"},
        "a user's manifest, written by another tool (a Parquet manifest is read with "
        "page_checksum_verification=True all the same): not a table this workflow wrote",
    ),
}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name for every import in a module (``pq`` -> ``pyarrow.parquet``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:  # `import pyarrow.parquet` binds `pyarrow`
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _is_read(name: str) -> bool:
    if name in WRITERS:
        return False
    return name in READ_NAMES or name.startswith(READ_PREFIXES)


def parquet_reads(source: str) -> list[tuple[int, str]]:
    """(line, qualified name) of every use of a Parquet reader in ``source``, imports included."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if _is_read(name):
                    found.add((node.lineno, name))
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
            name = _qualified(node, aliases)
            if name is not None and _is_read(name):
                found.add((node.lineno, name))
    # `pq.read_table` is an Attribute whose value `pq` is a Name: report the longest name per line
    return sorted((line, name) for line, name in found if not any(
        other != name and other.startswith(name + ".") and oline == line for oline, other in found))


def test_the_scanner_finds_every_way_to_read_parquet() -> None:
    planted = """
import pyarrow.parquet as pq
import pandas as pd
import pyarrow as pa
import pyarrow
from pyarrow import parquet
from pyarrow.parquet import read_table as rt
import pyarrow.dataset as ds
t = pq.read_table(p)
f = pq.ParquetFile(p)
s = pq.read_schema(p)
m = pq.read_metadata(p)
d = pd.read_parquet(p)
e = pa.parquet.read_table(p)
g = parquet.read_pandas(p)
h = pyarrow.parquet.ParquetDataset(p)
i = ds.dataset(p)
pq.write_table(t, p)
w = pq.ParquetWriter(p, schema)
df.to_parquet(p)
"""
    names = [name for _line, name in parquet_reads(planted)]
    assert names == [
        "pyarrow.parquet.read_table",  # the `from ... import read_table as rt` line
        "pyarrow.parquet.read_table", "pyarrow.parquet.ParquetFile", "pyarrow.parquet.read_schema",
        "pyarrow.parquet.read_metadata", "pandas.read_parquet", "pyarrow.parquet.read_table",
        "pyarrow.parquet.read_pandas", "pyarrow.parquet.ParquetDataset", "pyarrow.dataset.dataset",
    ]


def _scanned_files() -> list[Path]:
    return sorted(p for root in SCANNED for p in root.rglob("*.py"))


def test_no_module_reads_a_project_table_around_utils_io() -> None:
    offenders = []
    seen_allowed: dict[str, set[str]] = {}
    for path in _scanned_files():
        rel = path.relative_to(REPO).as_posix()
        allowed = ALLOWED.get(rel, (set(), ""))[0]
        for line, name in parquet_reads(path.read_text()):
            if name in allowed:
                seen_allowed.setdefault(rel, set()).add(name)
            else:
                offenders.append(f"{rel}:{line}: {name}")
    assert offenders == [], (
        "read project tables with devcurriculum.utils.io.read_table (page checksums verified, one open file) "
        "or read_schema / read_metadata for the footer:\n" + "\n".join(offenders)
    )
    # every exception is still needed (a stale one would let a new read through unseen)
    assert {rel: names for rel, (names, _why) in ALLOWED.items()} == seen_allowed


def test_a_flipped_bit_in_a_features_table_is_refused_by_score_difficulty(tmp_path: Path) -> None:
    """The reproduction: one flipped bit in the features table used to change every distance silently."""
    from devcurriculum.config import DifficultyConfig
    from devcurriculum.datasets.clips import CLIP_SCHEMA
    from devcurriculum.difficulty.stage import run_score_difficulty
    from devcurriculum.utils.checksums import ChecksumError
    from devcurriculum.utils.embeddings import embedding_array
    from devcurriculum.utils.io import table_from_columns, write_table

    n = 24
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(n)]
    features = pa.table({"clip_id": ids, "embedding": embedding_array(rng.normal(size=(n, 8)).astype(np.float32))})
    write_table(features, tmp_path / "features.parquet")
    cols = {"clip_id": ids, "video_id": ["v"] * n, "subject": ["s"] * n, "age_days": [30.0] * n, "age_group": ["g0"] * n,
            "start_frame": list(range(n)), "frame_step": [1] * n, "n_frames": [4] * n, "cache_row": list(range(n))}
    write_table(table_from_columns(cols, CLIP_SCHEMA), tmp_path / "g0.parquet")
    column = pq.ParquetFile(tmp_path / "features.parquet").metadata.row_group(0).column(1)  # the embeddings
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    data = bytearray((tmp_path / "features.parquet").read_bytes())
    data[start + column.total_compressed_size // 2] ^= 0x04  # one bit, inside the column's pages
    (tmp_path / "features.parquet").write_bytes(bytes(data))
    cfg = DifficultyConfig.from_mapping({"k": 2})
    with pytest.raises(ChecksumError, match=rf"^{tmp_path / 'features.parquet'} is corrupt"):
        run_score_difficulty(features=tmp_path / "features.parquet", clip_tables=[tmp_path / "g0.parquet"], cfg=cfg,
                             out_difficulty=tmp_path / "d.parquet", out_k_table=tmp_path / "k.parquet")
    assert not (tmp_path / "d.parquet").exists()
