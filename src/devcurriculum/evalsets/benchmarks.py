"""Labelled evaluation sets (rule ``prepare_benchmark``): an item table, a uint8 clip cache, a status table.

Every benchmark is written in the same shape as the training clip cache so that the ``embed`` stage
can feed it to any objective unchanged (``evalsets.labelled.writer``):

- ``{name}.parquet``: item_id, label, label_id, split (``train``/``test``), cache_row;
- ``{name}.npy``: uint8 ``(N, T, S, S, 3)`` with ``T = data.clip.frames`` and ``S = data.clip.size``;
- ``{name}.status.parquet``: every source item with ``status`` ok/error, the reason it was skipped and
  the source frames its clip took (``frame_indices``).

Sources (``benchmarks.<name>.source``; docs/benchmarks.md):

- ``demo``: the renderer's held-out labelled videos (``labels.csv``; ``views.csv`` for label ``view``),
  read as a ``video_manifest`` whose label column is ``shape``, ``direction`` or ``view``: one clip per video from its first frame, every
  ``data.clip.frame_step`` frames, decoded and resized exactly like the training clip cache;
- ``sklearn_digits``: scikit-learn's bundled 8x8 handwritten digits (real data shipped with the library),
  upscaled bilinearly, grey repeated to RGB and over ``T`` frames ("images repeated over time", as the
  NeurIPS 2023 study does for CIFAR-10);
- a lab's own data (``video_manifest``, ``image_manifest``, ``video_folder``, ``image_folder``) and the
  standard layouts (``ucf101``, ``ssv2``, ``toybox``, ``cifar10``) through ``evalsets.labelled``.

Splits are drawn per class with a seed (every class on both sides) unless the source has its own.
A labelled video source may sample its clips as the seed study did (``sampling``: a policy and its
rate, ``evalsets.labelled.sampling``); the workflow lays a learner's own policy over the block
(``WorkflowConfig.benchmark_at``) before it reaches :func:`prepare_benchmark`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from devcurriculum.config import (
    BenchmarkConfig,
    Cifar10Source,
    ClipConfig,
    DemoBenchmarkSource,
    DigitsBenchmarkSource,
    ImageFolderSource,
    ImageManifestSource,
    LabelledSource,
    SSv2Source,
    ToyBoxSource,
    UCF101Source,
    VideoFolderSource,
    VideoManifestSource,
)
from devcurriculum.evalsets import labelled
from devcurriculum.evalsets.labelled.loading import STATUS_OK, status_frame
from devcurriculum.evalsets.labelled.sampling import seed_source_step
from devcurriculum.utils.io import provenance, read_metadata, read_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.evalsets.benchmarks")

LABELS_CSV = "labels.csv"
#: the demo's what-is-in-view clips (label ``view``), next to labels.csv
VIEWS_CSV = "views.csv"


def prepare_benchmark(
    *,
    name: str,
    bench: BenchmarkConfig,
    clip: ClipConfig,
    demo_dir: PathLike | None,
    out_table: PathLike,
    out_cache: PathLike,
    out_status: PathLike,
) -> dict[str, int]:
    """Build benchmark ``name`` (its ``benchmarks.<name>`` block) and write its three files.

    ``demo_dir`` is the folder holding the renderer's ``labels.csv`` (only read for ``source: demo``).
    Unusable items are recorded in the status table and skipped; a class left with fewer than 2
    usable items, or an empty split, fails with one message naming the classes. Returns the counts
    ``{"items", "train", "test", "skipped"}``.
    """
    where = f"benchmarks.{name}"
    scratch_root = Path(out_cache).parent
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix=f".{name}.scratch.") as scratch:
        items, clips, status = benchmark_items(bench, clip=clip, demo_dir=demo_dir, where=where, scratch=Path(scratch))
        meta = provenance("prepare_benchmark", bench.shaping(), benchmark=name, clip=clip.shaping())
        return labelled.write_benchmark(items, clips, out_table=out_table, out_cache=out_cache, status=status,
                                        out_status=out_status, provenance=meta)


def benchmark_items(
    bench: BenchmarkConfig, *, clip: ClipConfig, demo_dir: PathLike | None, where: str, scratch: Path
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """``(items, clips, status)`` of one benchmark: decoded, split and checked."""
    if isinstance(bench, DigitsBenchmarkSource):
        return digits_items(clip, per_class=bench.per_class, test_fraction=bench.test_fraction, seed=bench.seed,
                            where=where)
    if isinstance(bench, DemoBenchmarkSource):
        if demo_dir is None:
            raise ValueError(f"{where}: source 'demo' needs the demo benchmark folder (labels.csv)")
        table = VIEWS_CSV if bench.label == "view" else LABELS_CSV
        manifest = labelled.read_labelled_manifest(Path(demo_dir) / table, label_column=bench.label)
        return labelled.build_benchmark(
            manifest, media="video", frames=clip.frames, size=clip.size, frame_step=clip.frame_step,
            split_mode="stratified", test_fraction=bench.test_fraction, seed=bench.seed, where=where, progress=False,
        )
    manifest = source_manifest(bench, scratch=scratch)
    placed = bench.target_fps is not None or bench.sampling is not None  # no frame step applies
    frame_step = None if placed else (bench.frame_step or clip.frame_step)
    return labelled.build_benchmark(
        manifest, media=labelled.SOURCE_MEDIA[bench.source], frames=clip.frames, size=clip.size,
        frame_step=frame_step, target_fps=bench.target_fps, start_fraction=bench.start_fraction,
        sampling=bench.sampling, split_mode=bench.split, test_fraction=bench.test_fraction, seed=bench.seed,
        where=where,
    )


def source_manifest(bench: LabelledSource, *, scratch: Path) -> pd.DataFrame:
    """The generic labelled manifest of a lab's own source or a standard layout (``evalsets.labelled``)."""
    if isinstance(bench, VideoManifestSource | ImageManifestSource):
        return labelled.read_labelled_manifest(bench.manifest, label_column=bench.label_column,
                                               group_column=bench.group_column)
    if isinstance(bench, VideoFolderSource):
        return labelled.video_folder_manifest(bench.root)
    if isinstance(bench, ImageFolderSource):
        return labelled.image_folder_manifest(bench.root)
    if isinstance(bench, UCF101Source):
        return labelled.ucf101_manifest(root=bench.root, annotations=bench.annotations, split_number=bench.split_number)
    if isinstance(bench, SSv2Source):
        return labelled.ssv2_manifest(root=bench.root, classes=list(bench.classes), videos=bench.videos)
    if isinstance(bench, ToyBoxSource):
        transformations = list(bench.transformations) if bench.transformations is not None else None
        return labelled.toybox_manifest(root=bench.root, transformations=transformations, task=bench.task or "category")
    if isinstance(bench, Cifar10Source):
        # the images go to the job's scratch folder as lossless PNGs, decoded like any image source
        return labelled.cifar10_manifest(root=bench.root, image_dir=scratch / "cifar10", per_class=bench.per_class)
    raise TypeError(f"no manifest for benchmark source {type(bench).__name__}")


def digits_items(
    clip: ClipConfig, *, per_class: int | None, test_fraction: float, seed: int, where: str
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """scikit-learn's digits as items, ``(N, T, S, S, 3)`` clips of a still image, and an all-ok status."""
    item_ids, labels, clips = load_digits_clips(clip, per_class)
    items = pd.DataFrame({"item_id": item_ids, "label": labels, "split": pd.NA, "group": pd.NA,
                          "cache_row": np.arange(len(item_ids))})
    items = labelled.assign_splits(items, mode="stratified", test_fraction=test_fraction, seed=seed)
    labelled.check_usable(items, where=where)
    status = status_frame([
        {"item_id": i, "path": "sklearn.datasets.load_digits", "label": label, "status": STATUS_OK, "reason": None,
         "width": 8, "height": 8, "n_frames": None, "fps": None, "start_frame": None, "n_padded": None,
         "frame_indices": [0] * clip.frames}
        for i, label in zip(item_ids, labels, strict=True)
    ])
    return items, clips, status


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


def benchmark_clip_fps(table: PathLike, status: PathLike | None) -> np.ndarray:
    """The frame rate of every clip of a prepared benchmark, in the item table's row order (NaN: unknown).

    A clip's rate is its source video's ``fps`` (the status table's column, written by
    ``prepare_benchmark`` for every decoded video) over the clip's frame step: the benchmark's
    ``frame_step``, else ``data.clip.frame_step`` (``source: demo`` always takes the latter), or its
    ``target_fps`` when it resamples by time, or, with a seed ``sampling`` policy, the policy's step
    for that video (``sampling.seed_source_step``: SSv2 ``round(12 / r)`` source frames, ToyBox
    ``round(fps / r)`` or 1 for its short videos, UCF-101 ``fps / r``). The steps come from the
    table's own provenance (the config it was prepared with). Images and ``sklearn_digits`` have no
    rate: NaN.
    """
    ids = read_table(table, columns=["item_id"]).column("item_id").to_pylist()
    out = np.full(len(ids), np.nan)
    if status is None or not Path(status).is_file():
        return out
    meta = read_metadata(table)
    bench = json.loads(meta.get("devcurriculum.config", "{}"))
    clip = json.loads(meta.get("devcurriculum.clip", "{}"))
    seed_policy = bench.get("sampling") is not None
    columns = ["item_id", "status", "fps", *(["n_frames"] if seed_policy else [])]
    rates = read_table(status, columns=columns).to_pandas()
    rates = rates[rates["status"] == STATUS_OK]
    source_fps = dict(zip(rates["item_id"].astype(str), rates["fps"].astype("float64"), strict=True))
    fps = np.array([source_fps.get(str(i), np.nan) for i in ids], dtype=np.float64)
    fps[~(fps > 0)] = np.nan  # also NaN: a missing or non-positive rate
    if bench.get("source") == "sklearn_digits":
        return out
    if seed_policy:
        n_frames = dict(zip(rates["item_id"].astype(str), rates["n_frames"], strict=True))
        return _seed_clip_fps(ids, fps, n_frames, bench["sampling"], frames=int(clip.get("frames", 1)))
    target = bench.get("target_fps") if bench.get("source") != "demo" else None
    if target is not None:
        return np.where(np.isfinite(fps), float(target), np.nan)
    step = (bench.get("frame_step") if bench.get("source") != "demo" else None) or clip.get("frame_step") or 1
    return fps / float(step)


def _seed_clip_fps(
    ids: list[str], fps: np.ndarray, n_frames: Mapping[str, Any], sampling: Mapping[str, Any], *, frames: int
) -> np.ndarray:
    """Each clip's rate under a seed sampling policy: its video's fps over the policy's step for it."""
    out = np.full(len(ids), np.nan)
    for row, (item, rate) in enumerate(zip(ids, fps, strict=True)):
        count = n_frames.get(str(item))
        if not np.isfinite(rate) or count is None or pd.isna(count):
            continue
        step = seed_source_step(sampling["policy"], n_frames=int(count), fps=float(rate), frames=frames,
                                frame_rate=float(sampling["frame_rate"]))
        out[row] = rate / step
    return out
