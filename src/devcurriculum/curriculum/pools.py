"""What a curriculum samples from: the pool of each age group and each clip's difficulty.

Global index ``i`` is row ``i`` of the clip tables concatenated in config (group) order, the order
the clip cache and every training dataset use too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from devcurriculum.utils.io import read_schema, read_table
from devcurriculum.utils.paths import PathLike


def load_pools(
    clip_tables: Sequence[PathLike], difficulty_path: PathLike | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Pools (rows grouped by their ``age_group`` column) and, with ``difficulty_path``, difficulties."""
    frames = []
    for path in clip_tables:
        _require_columns(path, "clip table", ("clip_id", "age_group"))
        frames.append(read_table(path, columns=["clip_id", "age_group"]).to_pandas())
    if not frames:
        raise ValueError("no clip tables given")
    clips = pd.concat(frames, ignore_index=True)
    groups = clips["age_group"].astype(str).to_numpy()
    pools = {str(g): np.flatnonzero(groups == g) for g in pd.unique(groups)}
    if difficulty_path is None:
        return pools, None
    return pools, difficulty_for(clips, difficulty_path)


def difficulty_for(clips: pd.DataFrame, path: PathLike) -> np.ndarray:
    """float64 difficulty of every row of ``clips`` (its ``clip_id`` column), joined on clip_id.

    A clip without a difficulty, or a table repeating a clip_id, is an error naming them.
    """
    _require_columns(path, "difficulty table", ("clip_id", "difficulty"))
    table = read_table(path, columns=["clip_id", "difficulty"]).to_pandas()
    repeated = table["clip_id"].duplicated()
    if repeated.any():
        raise ValueError(f"difficulty table {path} repeats clip_id(s) {table.loc[repeated, 'clip_id'].head(5).tolist()}")
    lookup = pd.Series(table["difficulty"].to_numpy(np.float64), index=table["clip_id"])
    values = lookup.reindex(clips["clip_id"]).to_numpy(dtype=np.float64)
    absent = np.isnan(values)
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} clip(s) have no difficulty in {path}, e.g. "
            f"{clips['clip_id'][absent].head(5).tolist()}"
        )
    return values


def _require_columns(path: PathLike, what: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in read_schema(path).names]
    if missing:
        raise KeyError(f"{what} {path} has no column(s) {missing}")
