"""Loading the workflow's binary files with errors that name the file.

numpy and safetensors report a truncated file without its path ("mmap length is greater than file
size", "incomplete metadata, file not fully covered"): in a job that reads a dozen caches the reader
cannot tell which one broke. These wrappers re-raise such failures as :class:`CorruptFileError`
naming the file and what to do; a missing file stays a ``FileNotFoundError`` (it already names it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devcurriculum.utils.paths import PathLike

if TYPE_CHECKING:
    import torch

HINT = "truncated or corrupt: rerun the rule that wrote it"


class CorruptFileError(ValueError):
    """A file exists but cannot be read as what it claims to be."""


def _corrupt(path: Path, kind: str, exc: BaseException) -> CorruptFileError:
    return CorruptFileError(f"{path}: cannot read this {kind} ({exc}); {HINT}")


def load_npy(path: PathLike, mmap: bool = True) -> np.ndarray:
    """``np.load`` of a ``.npy`` file (memory-mapped read-only when ``mmap``), naming the file on failure."""
    p = Path(path)
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError) as exc:
        raise _corrupt(p, ".npy array", exc) from exc


def load_safetensors(path: PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file``, naming the file when it is truncated or not a safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {p} does not exist")
    try:
        return load_file(str(p), device=device)
    except SafetensorError as exc:
        raise _corrupt(p, "safetensors file", exc) from exc


def safetensors_metadata(path: PathLike) -> dict[str, str]:
    """The string pairs of a safetensors file's header, naming the file when the header is unreadable."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {p} does not exist")
    try:
        with safe_open(str(p), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except SafetensorError as exc:
        raise _corrupt(p, "safetensors file", exc) from exc
