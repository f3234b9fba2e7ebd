"""Write a labelled benchmark in the ``prepare_benchmark`` contract, plus its status table.

- item table (:data:`BENCHMARK_SCHEMA`): ``item_id, label, label_id, split,
  cache_row``, rows in cache order; ``label_id`` is the label's index in the sorted class names;
- clip cache: uint8 ``(N, T, S, S, 3)``;
- status table (:data:`STATUS_SCHEMA`): every source item with ``status`` ok/error and the reason,
  so skipped items are counted and named, never silently dropped, and the source frames each clip
  took (``frame_indices``), so the sampling can be inspected.

All three are written atomically (``utils.atomic``); the item table last, because it is the file
downstream rules key on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.evalsets.labelled.loading import STATUS_ERROR, STATUS_OK
from devcurriculum.evalsets.labelled.manifest import SPLITS, LabelledDataError
from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.serialize import save_npy

log = logging.getLogger("devcurriculum.evalsets.labelled.writer")

BENCHMARK_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("label_id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("cache_row", pa.int64(), nullable=False),
    ]
)
STATUS_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("width", pa.int64()),
        pa.field("height", pa.int64()),
        pa.field("n_frames", pa.int64()),
        pa.field("fps", pa.float64()),
        pa.field("start_frame", pa.int64()),
        pa.field("n_padded", pa.int64()),
        pa.field("frame_indices", pa.list_(pa.int64())),  # the source frames of the item's clip
    ]
)


def _column(frame: pd.DataFrame, name: str) -> list:
    """A column as a Python list with missing values as ``None`` (what ``pa.array`` expects); list cells kept."""
    return [v if isinstance(v, list | tuple | np.ndarray) else None if pd.isna(v) else v for v in frame[name].tolist()]


def _check_items(items: pd.DataFrame, clips: np.ndarray) -> None:
    missing = [c for c in ("item_id", "label", "split", "cache_row") if c not in items.columns]
    if missing:
        raise LabelledDataError(f"write_benchmark: items lack column(s) {missing}")
    if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"write_benchmark: clips must be uint8 (N, T, S, S, 3), got {clips.dtype} {clips.shape}")
    if not items["item_id"].is_unique:
        duplicates = items.loc[items["item_id"].duplicated(), "item_id"].head(10).tolist()
        raise LabelledDataError(f"write_benchmark: duplicate item_id {duplicates}")
    rows = np.sort(items["cache_row"].to_numpy(dtype=np.int64))
    if len(rows) != len(clips) or not np.array_equal(rows, np.arange(len(clips))):
        raise LabelledDataError(
            f"write_benchmark: cache_row must number the {len(clips)} clips 0..{len(clips) - 1} once each"
        )
    bad_split = ~items["split"].isin(SPLITS)
    if bad_split.any():
        raise LabelledDataError(
            f"write_benchmark: split must be train/test; items {items.loc[bad_split, 'item_id'].head(10).tolist()} "
            "have none (run splits.assign_splits first)"
        )


def benchmark_table(items: pd.DataFrame) -> tuple[pa.Table, list[str]]:
    """The item table in cache order, and the sorted class names that define ``label_id``."""
    ordered = items.sort_values("cache_row", kind="stable")
    classes = sorted(ordered["label"].astype(str).unique().tolist())
    label_ids = {label: i for i, label in enumerate(classes)}
    table = table_from_columns(
        {
            "item_id": ordered["item_id"].astype(str).tolist(),
            "label": ordered["label"].astype(str).tolist(),
            "label_id": [label_ids[label] for label in ordered["label"].astype(str)],
            "split": ordered["split"].astype(str).tolist(),
            "cache_row": ordered["cache_row"].astype("int64").tolist(),
        },
        BENCHMARK_SCHEMA,
    )
    return table, classes


def status_table(status: pd.DataFrame) -> pa.Table:
    bad = ~status["status"].isin([STATUS_OK, STATUS_ERROR])
    if bad.any():
        raise ValueError(f"status must be {STATUS_OK!r} or {STATUS_ERROR!r}, got {status.loc[bad, 'status'].tolist()}")
    return table_from_columns({f.name: _column(status, f.name) for f in STATUS_SCHEMA}, STATUS_SCHEMA)


def write_benchmark(
    items: pd.DataFrame,
    clips: np.ndarray,
    *,
    out_table: PathLike,
    out_cache: PathLike,
    status: pd.DataFrame | None = None,
    out_status: PathLike | None = None,
    provenance: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Write the item table, the clip cache and (when both given) the status table; return counts.

    ``provenance`` is schema metadata from ``utils.io.provenance(...)``; the class names, the cache
    shape and the item counts are added to it (``devcurriculum.classes``, ``.cache_shape``,
    ``.items``). Returns ``{"items", "train", "test", "skipped"}``.
    """
    if (status is None) != (out_status is None):
        raise ValueError("write_benchmark: give both status and out_status, or neither")
    _check_items(items, clips)
    table, classes = benchmark_table(items)
    n_train = int((items["split"] == "train").sum())
    counts = {
        "items": len(items),
        "train": n_train,
        "test": len(items) - n_train,
        "skipped": 0 if status is None else int((status["status"] == STATUS_ERROR).sum()),
    }
    meta = dict(provenance or {})
    meta.setdefault("devcurriculum.classes", json.dumps(classes))
    meta.setdefault("devcurriculum.cache_shape", json.dumps(list(clips.shape)))
    meta["devcurriculum.items"] = json.dumps(counts)
    save_npy(out_cache, clips)
    if status is not None and out_status is not None:
        write_table(status_table(status), out_status, metadata=meta)
    write_table(table, out_table, metadata=meta)
    log.info(
        "benchmark %s: %d items (%d train / %d test), %d classes, %d skipped, cache %s",
        out_table, counts["items"], counts["train"], counts["test"], len(classes), counts["skipped"], clips.shape,
    )
    return counts

