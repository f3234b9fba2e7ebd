"""Embedding matrices as Arrow columns: an (N, D) float matrix <-> a ``fixed_size_list<float32>[D]`` column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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
