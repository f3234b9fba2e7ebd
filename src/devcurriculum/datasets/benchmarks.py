"""Labelled evaluation sets (rule ``prepare_benchmark``): an item table plus a uint8 clip cache.

Every benchmark is written in the same shape as the training clip cache so that the ``embed`` stage
can feed it to any objective unchanged:

- ``{name}.parquet``: item_id (string), label (string), label_id (int64), split (``train``/``test``),
  cache_row (int64; row ``i`` of the cache belongs to the row with ``cache_row == i``);
- ``{name}.npy``: uint8 ``(N, T, S, S, 3)`` with ``T = data.clip.frames`` and ``S = data.clip.size``.

Sources:

- ``demo``: the renderer's held-out labelled videos (``labels.csv``: item_id, path, shape, direction);
  one clip per video, ``T`` frames taken every ``clip.frame_step`` frames from its first frame, resized
  exactly like the training clip cache.
- ``sklearn_digits``: scikit-learn's bundled 8x8 handwritten digits (real data, shipped with the
  library, no download), upscaled bilinearly, grey repeated to RGB and over ``T`` frames ("images
  repeated over time", as the NeurIPS 2023 study does for CIFAR-10).

The train/test split is stratified by label with a seeded generator, so every class appears in both
halves in (nearly) the same proportion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from devcurriculum.config import BenchmarkConfig, ClipConfig, DemoBenchmarkSource
from devcurriculum.utils.io import PathLike, provenance, save_npy, table_from_columns, write_table

log = logging.getLogger("devcurriculum.datasets.benchmarks")

BENCHMARK_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("label_id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("cache_row", pa.int64(), nullable=False),
    ]
)

LABELS_CSV = "labels.csv"


def load_items(
    name: str, bench: BenchmarkConfig, clip: ClipConfig, demo_dir: PathLike | None
) -> tuple[list[str], list[str], np.ndarray]:
    """Item ids, labels and uint8 ``(N, clip.frames, clip.size, clip.size, 3)`` clips of one benchmark."""
    if isinstance(bench, DemoBenchmarkSource):
        if demo_dir is None:
            raise ValueError(f"benchmarks.{name}: source 'demo' needs the demo benchmark folder (labels.csv)")
        return load_demo_clips(demo_dir, bench.label, clip)
    return load_digits_clips(clip, bench.per_class)


def prepare_benchmark(
    *,
    name: str,
    bench: BenchmarkConfig,
    clip: ClipConfig,
    demo_dir: PathLike | None,
    out_table: PathLike,
    out_cache: PathLike,
) -> int:
    """Build benchmark ``name`` (its ``benchmarks.<name>`` block) and write its item table and clip cache.

    ``demo_dir`` is the folder holding the renderer's ``labels.csv`` (only read for ``source: demo``).
    Returns the number of items written.
    """
    item_ids, labels, clips = load_items(name, bench, clip, demo_dir)
    split = stratified_split(labels, bench.test_fraction, bench.seed, where=f"benchmarks.{name}")
    class_names = sorted(set(labels))
    label_ids = {label: i for i, label in enumerate(class_names)}

    table = table_from_columns(
        {
            "item_id": item_ids,
            "label": labels,
            "label_id": [label_ids[label] for label in labels],
            "split": split,
            "cache_row": list(range(len(item_ids))),
        },
        BENCHMARK_SCHEMA,
    )
    meta = provenance(
        "prepare_benchmark",
        bench.shaping(),
        benchmark=name,
        clip=clip.shaping(),
        classes=class_names,
        cache_shape=list(clips.shape),
    )
    # Cache first, table second: the table is the file downstream rules key on.
    save_npy(out_cache, clips)
    write_table(table, out_table, metadata=meta)
    n_test = sum(s == "test" for s in split)
    log.info(
        "benchmark %s: %d items, %d classes, %d train / %d test, cache %s",
        name, len(item_ids), len(class_names), len(item_ids) - n_test, n_test, clips.shape,
    )
    return len(item_ids)


def stratified_split(labels: Sequence[str], test_fraction: float, seed: int, where: str = "benchmark") -> list[str]:
    """``train``/``test`` per item, stratified by label (every class needs at least two items)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{where}.test_fraction must be in (0, 1), got {test_fraction}")
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    too_small = [str(v) for v, c in zip(values, counts, strict=True) if c < 2]
    if too_small:
        raise ValueError(f"{where}: classes {too_small} have fewer than 2 items; cannot split train/test")
    index = np.arange(len(labels))
    _, test_idx = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=np.asarray(labels))
    split = np.full(len(labels), "train", dtype=object)
    split[test_idx] = "test"
    return split.tolist()


def load_digits_clips(clip: ClipConfig, per_class: int | None) -> tuple[list[str], list[str], np.ndarray]:
    """scikit-learn's 8x8 digits as ``(N, clip.frames, clip.size, clip.size, 3)`` uint8 clips of a still image.

    Keeps the first ``per_class`` images of each digit in dataset order, so that changing the split
    seed never changes which images are in the benchmark.
    """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.float32)  # (N, 8, 8), values 0..16
    targets = np.asarray(digits.target)
    keep = np.arange(len(targets))
    if per_class is not None:
        keep = np.concatenate([np.flatnonzero(targets == c)[:per_class] for c in np.unique(targets)])
        keep.sort()
    with torch.no_grad():
        grey = torch.from_numpy(images[keep] / 16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
        up = F.interpolate(grey, size=(clip.size, clip.size), mode="bilinear", align_corners=False)
    grey_u8 = np.clip(np.rint(up.squeeze(1).numpy() * 255.0), 0, 255).astype(np.uint8)  # (N, S, S)
    clips = np.broadcast_to(grey_u8[:, None, :, :, None], (len(keep), clip.frames, clip.size, clip.size, 3))
    item_ids = [f"digits-{i:04d}" for i in keep]
    labels = [str(int(t)) for t in targets[keep]]
    return item_ids, labels, np.ascontiguousarray(clips)


def read_demo_labels(demo_dir: PathLike, label_key: str) -> tuple[Path, list[dict[str, str]]]:
    """Rows of the renderer's ``labels.csv`` (item_id, path, shape, direction), checked."""
    import csv

    folder = Path(demo_dir)
    labels_csv = folder / LABELS_CSV
    if not labels_csv.is_file():
        raise FileNotFoundError(f"demo benchmark labels not found: {labels_csv}")
    with open(labels_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    required = {"item_id", "path", label_key}
    missing = required - set(rows[0] if rows else {})
    if missing or not rows:
        raise ValueError(f"{labels_csv}: needs columns {sorted(required)} and at least one row; missing {sorted(missing)}")
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if row["item_id"] in seen:
            raise ValueError(f"{labels_csv} line {line}: duplicate item_id {row['item_id']!r}")
        seen.add(row["item_id"])
        if not row[label_key]:
            raise ValueError(f"{labels_csv} line {line}: empty {label_key!r}")
    return folder, rows


def load_demo_clips(demo_dir: PathLike, label_key: str, clip: ClipConfig) -> tuple[list[str], list[str], np.ndarray]:
    """One resized clip per labelled demo video: ``clip.frames`` frames every ``clip.frame_step`` from frame 0.

    Decoding and resizing are the clip cache's own (``datasets.decode``), so a benchmark clip and a
    training clip of the same footage have identical pixels.
    """
    from devcurriculum.datasets.decode import VideoDecodeError, read_frames, resize_short_side_and_center_crop

    folder, rows = read_demo_labels(demo_dir, label_key)
    indices = np.arange(clip.frames, dtype=np.int64) * clip.frame_step
    clips = np.empty((len(rows), clip.frames, clip.size, clip.size, 3), dtype=np.uint8)
    for i, row in enumerate(tqdm(rows, desc="decode demo benchmark", unit="video", leave=False)):
        video = folder / row["path"]
        try:
            raw = read_frames(video, indices)
        except VideoDecodeError as exc:
            raise VideoDecodeError(
                f"demo benchmark item {row['item_id']!r} ({video}): cannot read {clip.frames} frames every "
                f"{clip.frame_step} (data.clip.frames, data.clip.frame_step): {exc}"
            ) from exc
        clips[i] = resize_short_side_and_center_crop(raw, clip.size)
    return [str(r["item_id"]) for r in rows], [str(r[label_key]) for r in rows], clips
