"""CIFAR-10 adapter for the binary distribution (``cifar-10-batches-bin``), read with numpy — no pickle.

Layout: ``data_batch_1.bin`` … ``data_batch_5.bin`` (train, 10,000 records each), ``test_batch.bin``
(test), ``batches.meta.txt`` (the 10 class names, one per line, in label-byte order). Each record is
3073 bytes: one label byte (0–9), then 1024 red, 1024 green and 1024 blue bytes, each plane a 32×32
image in row-major order.

:func:`read_cifar10` returns the images in memory (``(N, 32, 32, 3)`` uint8 per batch file), for
users who want arrays; :func:`cifar10_manifest` writes the images as lossless PNG files to a folder
(``<image_dir>/<batch>/<record:05d>.png``) and returns an image manifest, so CIFAR-10 goes through
the same ``image`` loading, resizing, splitting and bad-input handling as every image source.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.evalsets.labelled.manifest import TEST, TRAIN, LabelledDataError, validate_manifest
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.paths import PathLike

FOLDER = "cifar-10-batches-bin"
META_FILE = "batches.meta.txt"
BATCH_FILES = (*tuple((f"data_batch_{i}.bin", TRAIN) for i in range(1, 6)), ("test_batch.bin", TEST))
IMAGE_SIDE = 32
RECORD_BYTES = 1 + 3 * IMAGE_SIDE * IMAGE_SIDE


@dataclass(frozen=True)
class Cifar10Batch:
    """The records of one batch file."""

    name: str  # file stem, e.g. "data_batch_1"
    split: str  # "train" or "test"
    images: np.ndarray  # uint8 (n, 32, 32, 3) RGB
    label_ids: np.ndarray  # uint8 (n,)


def find_batches_folder(root: PathLike) -> Path:
    """``root`` itself if it holds ``batches.meta.txt``, else ``root/cifar-10-batches-bin``."""
    base = Path(root).expanduser().resolve()
    for folder in (base, base / FOLDER):
        if (folder / META_FILE).is_file():
            return folder
    raise LabelledDataError(f"cifar10: {META_FILE} not found in {base} or {base / FOLDER}")


def read_class_names(path: Path) -> list[str]:
    """The class names of ``batches.meta.txt`` (blank lines ignored)."""
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names or len(set(names)) != len(names):
        raise LabelledDataError(f"cifar10: {path} must list distinct class names, one per line; got {names}")
    return names


def read_batch_file(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 32, 32, 3), label_ids (n,))`` of one binary batch file; checks size and labels."""
    if not path.is_file():
        raise LabelledDataError(f"cifar10: batch file not found: {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise LabelledDataError(
            f"cifar10: {path} has {raw.size} bytes, not a whole number of {RECORD_BYTES}-byte records"
        )
    records = raw.reshape(-1, RECORD_BYTES)
    label_ids = records[:, 0].copy()
    bad = np.flatnonzero(label_ids >= n_classes)
    if bad.size:
        raise LabelledDataError(
            f"cifar10: {path} record(s) {bad[:10].tolist()} have label byte(s) {label_ids[bad[:10]].tolist()} "
            f"outside the {n_classes} classes of {META_FILE}"
        )
    planes = records[:, 1:].reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE)  # R, G, B planes, row-major
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), label_ids


def read_cifar10(*, root: PathLike) -> tuple[list[str], list[Cifar10Batch]]:
    """The class names and every batch (train files 1–5, then the test file) in memory."""
    folder = find_batches_folder(root)
    classes = read_class_names(folder / META_FILE)
    batches = []
    for file_name, split in BATCH_FILES:
        images, label_ids = read_batch_file(folder / file_name, len(classes))
        batches.append(Cifar10Batch(Path(file_name).stem, split, images, label_ids))
    return classes, batches


def write_png(path: Path, image: np.ndarray) -> None:
    """One RGB image as a lossless PNG, atomically (a crash never leaves a half-written file)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image, mode="RGB").save(tmp, format="PNG")


def cifar10_manifest(*, root: PathLike, image_dir: PathLike, per_class: int | None = None) -> pd.DataFrame:
    """Write CIFAR-10 as PNGs under ``image_dir`` and return their image manifest (with the official split).

    ``per_class``: keep only the first ``per_class`` images of each class in each split, in file
    order (``None``: all 60,000), so a changed split seed never changes which images are used.
    """
    if per_class is not None and per_class < 1:
        raise ValueError(f"cifar10: per_class must be >= 1 or None, got {per_class}")
    classes, batches = read_cifar10(root=root)
    out = Path(image_dir).expanduser().resolve()
    taken: Counter[tuple[str, int]] = Counter()
    rows = []
    for batch in batches:
        for record, (image, label_id) in enumerate(zip(batch.images, batch.label_ids, strict=True)):
            key = (batch.split, int(label_id))
            if per_class is not None and taken[key] >= per_class:
                continue
            taken[key] += 1
            relative = f"{batch.name}/{record:05d}.png"
            write_png(out / relative, image)
            rows.append({"item_id": relative, "path": str(out / relative), "label": classes[label_id], "split": batch.split})
    return validate_manifest(pd.DataFrame(rows), where=f"cifar10 ({find_batches_folder(root)})")
