"""Disk full while writing (issue 25, item 5): a resume state, weights, a ``.npy`` or a table that does
not fit names the file, the bytes needed and free, and "no space left on device" (torch said
``unexpected pos 576 vs 534`` or ``basic_ios::clear: iostream error``, numpy ``1000000 requested and
131056 written``, neither naming a file). Every writer goes through ``utils.atomic.atomic_path``,
which turns the failure into one :class:`DiskSpaceError` and leaves nothing under the output's name.

The real case runs on a 1 MiB tmpfs (needs root and ``mount``; skipped elsewhere); the patched
cases (a writer raising what torch raises, a disk reported full) run everywhere.
"""

from __future__ import annotations

import errno
import gc
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from devcurriculum.train.checkpoint import ResumeState, resume_path, save_resume_state, save_weights
from devcurriculum.utils import disk_space
from devcurriculum.utils.atomic import atomic_dir, atomic_path
from devcurriculum.utils.disk_space import DiskSpaceError
from devcurriculum.utils.io import write_table
from devcurriculum.utils.serialize import save_npy

MIB = 1 << 20


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (as tests/datasets/test_clips.py)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        gc.collect()  # a failed torch.save's writer (kept by the traceback) holds its deleted file open
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            # still open (a failed test's report keeps the traceback): detach now, freed when it closes
            subprocess.run(["umount", "--lazy", str(mnt)], check=True)


def resume_state(n: int) -> ResumeState:
    return ResumeState(step=3, config_hash="h", model={"w": torch.zeros(n)}, optimizer={"state": {}, "param_groups": []},
                       samplers=[], rngs=[], metrics={}, wall_s=0.0)


def two_mib_table() -> pa.Table:
    return pa.table({"x": np.random.default_rng(0).random(MIB // 4)})  # incompressible


#: each writer of a file too big for the 1 MiB filesystem, and the file it writes
WRITERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "resume state": (lambda d: save_resume_state(d / "resume", resume_state(MIB // 2)), "resume/last.pt"),
    "weights": (lambda d: save_weights({"w": torch.zeros(MIB // 2)}, d / "model.safetensors"), "model.safetensors"),
    "npy": (lambda d: save_npy(d / "cache.npy", np.zeros(2 * MIB, dtype=np.uint8)), "cache.npy"),
    "parquet": (lambda d: write_table(two_mib_table(), d / "t.parquet"), "t.parquet"),
}


def assert_names_file_needed_and_free(err: DiskSpaceError, path: Path, needed: int | None) -> None:
    text = str(err)
    assert text.startswith(f"{path}: no space left on device"), text
    assert err.errno == errno.ENOSPC
    if needed is not None:
        assert f"needs about {needed} bytes" in text, text
    else:
        assert re.search(r"needs more than \d+ bytes", text), text
    assert re.search(r"the filesystem has \d+ bytes \([\d.]+ [KMG]?i?B\) free", text), text
    assert "\n" not in text


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_disk_names_the_file_the_bytes_needed_and_free(small_filesystem: Path, writer: str) -> None:
    write, name = WRITERS[writer]
    with pytest.raises(DiskSpaceError) as err:
        write(small_filesystem)
    needed = {"npy": 2 * MIB + 128, "weights": 2 * MIB, "resume state": 2 * MIB}.get(writer)
    text = str(err.value)
    assert text.startswith(f"{small_filesystem / name}: no space left on device"), text
    if needed is not None:  # what the writer knew it would need (tensors and arrays: at least their bytes)
        assert int(re.search(r"needs about (\d+) bytes", text).group(1)) >= needed, text
    assert re.search(r"the filesystem has \d+ bytes \([\d.]+ [KMG]?i?B\) free", text), text
    assert "\n" not in text
    leftovers = [p for p in small_filesystem.rglob("*") if p.is_file()]
    assert leftovers == [], f"a failed write left {leftovers}"


def test_a_full_disk_keeps_the_previous_resume_state(small_filesystem: Path) -> None:
    save_resume_state(small_filesystem, resume_state(16))
    before = resume_path(small_filesystem).read_bytes()
    with pytest.raises(DiskSpaceError, match="no space left on device"):
        save_resume_state(small_filesystem, resume_state(MIB // 2))
    assert resume_path(small_filesystem).read_bytes() == before


# ---- patched: what each library raises, on any machine ------------------------------------------


def full_disk(monkeypatch: pytest.MonkeyPatch, free: int = 4096) -> None:
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda _p: usage._replace(free=free))


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("basic_ios::clear: iostream error"),  # torch.save, the fault as reported
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),  # torch.save, here
        OSError("1000000 requested and 131056 written"),  # numpy: no errno
        OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_a_writer_error_on_a_full_disk_becomes_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    full_disk(monkeypatch)
    target = tmp_path / "model.pt"
    with pytest.raises(DiskSpaceError) as err, atomic_path(target, size_hint=5 * MIB) as tmp:
        tmp.write_bytes(b"x" * 1000)
        raise failure
    assert_names_file_needed_and_free(err.value, target, 5 * MIB)
    assert err.value.__cause__ is failure  # the library's own words stay in the traceback
    assert list(tmp_path.iterdir()) == []


def test_without_a_size_hint_the_bytes_written_are_a_lower_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_disk(monkeypatch)
    with pytest.raises(DiskSpaceError, match=r"needs more than 1000 bytes"), atomic_path(tmp_path / "a.png") as tmp:
        tmp.write_bytes(b"x" * 1000)
        raise OSError("write failed")


def test_a_folder_written_on_a_full_disk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_disk(monkeypatch)
    with pytest.raises(DiskSpaceError, match=rf"^{re.escape(str(tmp_path / 'export'))}: no space left on device"), \
            atomic_dir(tmp_path / "export") as tmp:
        (tmp / "model.safetensors").write_bytes(b"x" * 10)
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert list(tmp_path.iterdir()) == []


def test_other_errors_with_room_on_the_disk_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="^basic_ios::clear: iostream error$"), atomic_path(tmp_path / "m.pt"):
        raise RuntimeError("basic_ios::clear: iostream error")  # not a full disk: plenty free here
    with pytest.raises(ValueError, match="^bad value$"), atomic_path(tmp_path / "m.pt"):
        raise ValueError("bad value")  # not a write error at all


def test_an_error_saying_no_space_is_believed_whatever_the_free_space(tmp_path: Path) -> None:
    with pytest.raises(DiskSpaceError, match=r"no space left on device"), atomic_path(tmp_path / "t.parquet"):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
