"""JSON and ``.npy`` files, written atomically; the JSON form of numpy values and paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from devcurriculum.utils.atomic import atomic_path, atomic_write_text
from devcurriculum.utils.paths import PathLike


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as Python values, paths as text."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def save_npy(path: PathLike, array: np.ndarray) -> None:
    """Write a ``.npy`` file atomically (memory-mappable with ``np.load(mmap_mode='r')``)."""
    array = np.ascontiguousarray(array)
    with atomic_path(path, size_hint=array.nbytes + 128) as tmp, open(tmp, "wb") as fh:  # + the .npy header
        np.save(fh, array, allow_pickle=False)
