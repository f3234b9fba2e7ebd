"""A truncated clip cache or weights file is reported with its path, at every place the workflow reads one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.eval.embed import Checkpoint, load_weights_strict
from devcurriculum.train.checkpoint import load_weights
from devcurriculum.utils.safe_load import CorruptFileError, load_npy, load_safetensors, safetensors_metadata


def _truncate(path: Path, keep: int) -> Path:
    with open(path, "r+b") as fh:
        fh.truncate(keep)
    return path


def _message(path: Path) -> str:
    return re.escape(str(path)) + r": cannot read .*truncated or corrupt: rerun the rule that wrote it"


def test_truncated_npy_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "g0.npy"
    np.save(good, np.arange(2 * 4 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 4, 8, 8, 3))
    assert load_npy(good)[1, 0, 0, 0, 0] == (4 * 8 * 8 * 3) % 256 and isinstance(load_npy(good), np.memmap)
    assert not isinstance(load_npy(good, mmap=False), np.memmap)
    cut = tmp_path / "cut.npy"
    cut.write_bytes(good.read_bytes()[: os.path.getsize(good) - 100])  # numpy: "mmap length is greater ..."
    with pytest.raises(CorruptFileError, match=_message(cut)):
        load_npy(cut)
    header = tmp_path / "header.npy"
    header.write_bytes(good.read_bytes()[:40])  # numpy: "EOF: reading array header"
    with pytest.raises(CorruptFileError, match=_message(header)):
        load_npy(header)
    with pytest.raises(FileNotFoundError):
        load_npy(tmp_path / "missing.npy")


def test_clip_cache_names_the_truncated_group_file(tmp_path: Path) -> None:
    for group in ("g0", "g1"):
        np.save(tmp_path / f"{group}.npy", np.zeros((2, 4, 8, 8, 3), np.uint8))
        pd.DataFrame({"clip_id": [f"{group}-0", f"{group}-1"], "cache_row": [0, 1]}).to_parquet(
            tmp_path / f"{group}.parquet")
    assert len(ClipCache(tmp_path, ["g0", "g1"])) == 4
    broken = _truncate(tmp_path / "g1.npy", os.path.getsize(tmp_path / "g1.npy") - 64)
    with pytest.raises(CorruptFileError, match=_message(broken)):
        ClipCache(tmp_path, ["g0", "g1"])


def test_truncated_safetensors_names_the_file_at_every_reader(tmp_path: Path) -> None:
    module = nn.Linear(16, 16)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path), metadata={"step": "12"})
    assert safetensors_metadata(path) == {"step": "12"}
    assert torch.equal(load_safetensors(path)["weight"], module.weight.detach())
    _truncate(path, os.path.getsize(path) - 200)
    readers = (
        lambda: load_safetensors(path),
        lambda: safetensors_metadata(path),
        lambda: load_weights(nn.Linear(16, 16), path),  # train/checkpoint.py: init weights of pretrain
        lambda: load_weights_strict(nn.Linear(16, 16), path),  # eval/embed.py
        lambda: Checkpoint.read(path),  # eval/embed.py: the stage header
    )
    for read in readers:
        with pytest.raises(CorruptFileError, match=_message(path)):
            read()
    _truncate(path, 5)  # not even a header length
    with pytest.raises(CorruptFileError, match=_message(path)):
        load_safetensors(path)
