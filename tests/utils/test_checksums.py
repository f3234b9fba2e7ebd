"""Checksums (issue 13, item 8): Parquet page CRCs verified on read; sha256 sidecars of ``.npy`` caches
and safetensors weights, verified before use; a mismatch names the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from devcurriculum.train.checkpoint import load_weights, save_weights
from devcurriculum.utils.atomic import atomic_path, link_file
from devcurriculum.utils.checksums import ChecksumError, checksum_path, sha256_file, verify_checksum
from devcurriculum.utils.io import gather_tables, read_table, write_table
from devcurriculum.utils.serialize import save_npy


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def flip_in_first_data_page(path: Path) -> None:
    """Flip one byte inside the first column's data (not the footer, which fails differently)."""
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    flip_byte(path, column.data_page_offset + column.total_compressed_size // 2)


def table(n: int = 50_000) -> pa.Table:
    return pa.table({"x": np.arange(n, dtype=np.int64), "y": np.linspace(0, 1, n)})


def test_parquet_pages_carry_checksums_and_a_flipped_byte_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    write_table(table(), path)
    assert read_table(path).equals(table())
    flip_in_first_data_page(path)
    with pytest.raises(ChecksumError, match=rf"^{path} is corrupt: .*CRC"):
        read_table(path)


def test_gathering_a_corrupt_shard_fails_naming_it(tmp_path: Path) -> None:
    parts = [tmp_path / f"part-{i}.parquet" for i in range(2)]
    for part in parts:
        write_table(table(), part)
    flip_in_first_data_page(parts[1])
    with pytest.raises(OSError, match=str(parts[1])):
        gather_tables(parts, tmp_path / "all.parquet")
    assert not (tmp_path / "all.parquet").exists()


def test_npy_cache_gets_a_sha256sum_sidecar_and_a_flip_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "g0.npy"
    save_npy(path, np.arange(4096, dtype=np.uint8).reshape(16, 256))
    sidecar = checksum_path(path)
    assert sidecar.read_text() == f"{sha256_file(path)}  g0.npy\n"
    # the usual tool verifies it too
    assert subprocess.run(["sha256sum", "-c", sidecar.name], cwd=tmp_path, capture_output=True).returncode == 0
    assert verify_checksum(path) is True
    flip_byte(path, path.stat().st_size - 100)
    assert np.load(path, mmap_mode="r").shape == (16, 256)  # numpy alone would not notice
    with pytest.raises(ChecksumError, match=rf"^{path} is corrupt: its sha256 is [0-9a-f]{{64}} but g0.npy.sha256 "):
        verify_checksum(path)


def test_memmap_writer_inside_atomic_path_gets_the_checksum_of_the_final_bytes(tmp_path: Path) -> None:
    """The clip cache is filled through a memmap of the temp file (chunk_clips): its sidecar covers the result."""
    path = tmp_path / "cache.npy"
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(3, 5))
        arr[:] = 7
        arr.flush()
        del arr
    assert verify_checksum(path) and checksum_path(path).read_text().startswith(sha256_file(path))


def test_file_without_a_sidecar_is_read_unverified(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "user.npy"
    np.save(path, np.zeros(3))
    with caplog.at_level("INFO", logger="devcurriculum"):
        assert verify_checksum(path) is False
    assert f"no checksum recorded for {path}" in caplog.text


def test_flipped_safetensors_weights_are_refused_naming_the_file(tmp_path: Path) -> None:
    model = torch.nn.Linear(64, 64)
    path = tmp_path / "model.safetensors"
    save_weights(model.state_dict(), path)
    assert checksum_path(path).exists()
    flip_byte(path, path.stat().st_size - 8)  # a byte of the last tensor
    with pytest.raises(ChecksumError, match=rf"^{path} is corrupt"):
        load_weights(torch.nn.Linear(64, 64), path)


def test_link_file_gives_the_link_its_own_sidecar(tmp_path: Path) -> None:
    source = tmp_path / "model.safetensors"
    save_weights(torch.nn.Linear(2, 2).state_dict(), source)
    target = tmp_path / "checkpoints" / "after_stage2.safetensors"
    target.parent.mkdir()
    link_file(source, target)
    assert checksum_path(target).read_text() == f"{sha256_file(source)}  after_stage2.safetensors\n"
    assert verify_checksum(target)

