"""Resume state is verified before it is loaded (issue 13, item 3): a bit-flipped ``last.pt`` is set
aside with a warning naming it, and training restarts cleanly instead of resuming damaged weights."""

from __future__ import annotations

import logging
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_loop import run_tiny

from devcurriculum.train.checkpoint import ResumeState, load_resume_state, resume_path, save_resume_state


def member_data_offset(path: Path, name: str) -> tuple[int, int]:
    """(offset, size) of the stored bytes of zip member ``name`` (torch.save stores, never compresses)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def flip_bit(path: Path, offset: int, bit: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    return bytes(data)


def test_bit_flipped_resume_state_is_set_aside_and_training_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from devcurriculum.train.loop import NonFiniteLossError

    full, _ = run_tiny(tmp_path, total=8, out="full", resume="rfull")
    with pytest.raises(NonFiniteLossError):  # stops at step 6, leaving the state of step 4
        run_tiny(tmp_path, total=8, nan_at=6, out="part", resume="rpart")
    state = resume_path(tmp_path / "rpart")
    # one low mantissa bit of the first weight tensor: it still loads, with a slightly different weight
    with zipfile.ZipFile(state) as archive:
        tensor = sorted(n for n in archive.namelist() if "/data/" in n and n.rsplit("/", 1)[1].isdigit())[0]
    offset, size = member_data_offset(state, tensor)
    assert size >= 4
    flipped = flip_bit(state, offset + size // 2, 2)

    with caplog.at_level(logging.INFO, logger="devcurriculum"):
        resumed, _ = run_tiny(tmp_path, total=8, out="part", resume="rpart")
    assert resumed.start_step == 0, "a damaged state was resumed"
    (aside,) = (tmp_path / "rpart").glob("last.pt.corrupt-*")
    assert aside.read_bytes() == flipped  # renamed, not deleted: kept for inspection
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(state) in w and f"set aside as {aside}" in w and "CRC" in w for w in warnings), warnings
    # the clean restart is the uninterrupted run
    assert resumed.losses == full.losses
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(tmp_path / "part" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_truncated_resume_state_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = save_resume_state(tmp_path, small_state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="devcurriculum"):
        assert load_resume_state(tmp_path, "h") is None
    assert len(list(tmp_path.glob("last.pt.corrupt-*"))) == 1 and not path.exists()
    assert "not a readable archive" in caplog.text


def small_state() -> ResumeState:
    model = torch.nn.Linear(3, 2)
    return ResumeState(step=3, config_hash="h", model=model.state_dict(), optimizer={"state": {}, "param_groups": []},
                       samplers=[{"step": 3}], rngs=[{"torch": torch.arange(8, dtype=torch.uint8)}],
                       metrics={"loss": [0.5, 0.25]}, wall_s=1.0)


def same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def test_no_single_bit_flip_loads_as_different_content(tmp_path: Path) -> None:
    """Every byte of a resume state, one bit each: the state is rejected, or loads exactly as saved.

    Flips the CRCs cannot see lie in zip bookkeeping (timestamps, padding) that does not change what loads.
    """
    original = small_state()
    clean = save_resume_state(tmp_path / "clean", original).read_bytes()
    folder = tmp_path / "flip"
    rejected = identical = 0
    for offset in range(len(clean)):
        data = bytearray(clean)
        data[offset] ^= 1 << (offset % 8)
        for old in folder.glob("last.pt*"):
            old.unlink()
        resume_path(folder).parent.mkdir(exist_ok=True)
        resume_path(folder).write_bytes(bytes(data))
        loaded = load_resume_state(folder, "h")
        if loaded is None:
            rejected += 1
        else:
            assert same(loaded.to_dict(), original.to_dict()), f"a flip at byte {offset} loaded different content"
            identical += 1
    assert rejected > len(clean) // 2  # most of the file is checked content
    assert rejected + identical == len(clean)
