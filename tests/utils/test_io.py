"""Atomic writes, Parquet provenance, embedding columns and shard bounds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.embeddings import embedding_array, embedding_matrix
from devcurriculum.utils.io import (
    gather_tables,
    provenance,
    read_metadata,
    shard_bounds,
    table_from_columns,
    write_table,
)
from devcurriculum.utils.serialize import save_npy


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_file_until_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"
        raise ValueError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_output_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "shared.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("results for collaborators")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_embedding_round_trip_and_type(tmp_path):
    mat = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    schema = pa.schema([("clip_id", pa.string()), ("embedding", pa.list_(pa.float32(), 3))])
    table = table_from_columns({"clip_id": list("abcd"), "embedding": embedding_array(mat)}, schema)
    write_table(table, tmp_path / "e.parquet", metadata=provenance("test", {"a": 1}))
    back = pq.read_table(tmp_path / "e.parquet")
    assert back.schema.field("embedding").type == pa.list_(pa.float32(), 3)
    np.testing.assert_array_equal(embedding_matrix(back["embedding"]), mat.astype(np.float32))
    meta = read_metadata(tmp_path / "e.parquet")
    assert meta["devcurriculum.stage"] == "test" and meta["devcurriculum.config"] == '{"a": 1}'


def test_missing_column_is_named():
    schema = pa.schema([("a", pa.int64()), ("b", pa.int64())])
    with pytest.raises(KeyError, match="'b'"):
        table_from_columns({"a": [1]}, schema)


def test_shard_bounds_cover_everything_once():
    for n in (0, 1, 7, 10):
        for shards in (1, 3, 4):
            spans = [shard_bounds(n, s, shards) for s in range(shards)]
            covered = [i for a, b in spans for i in range(a, b)]
            assert covered == list(range(n))
            sizes = [b - a for a, b in spans]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        shard_bounds(5, 3, 3)


def test_gather_tables_in_order_and_rejects_mismatch(tmp_path):
    for i in range(3):
        write_table(pa.table({"x": [i, i]}), tmp_path / f"p{i}.parquet")
    n = gather_tables([tmp_path / f"p{i}.parquet" for i in range(3)], tmp_path / "all.parquet")
    assert n == 6
    assert pq.read_table(tmp_path / "all.parquet")["x"].to_pylist() == [0, 0, 1, 1, 2, 2]
    write_table(pa.table({"y": [1.0]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="bad.parquet"):
        gather_tables([tmp_path / "p0.parquet", tmp_path / "bad.parquet"], tmp_path / "x.parquet")


def test_save_npy_is_memory_mappable(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    save_npy(tmp_path / "a.npy", arr)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert isinstance(mm, np.memmap)
    np.testing.assert_array_equal(mm, arr)
