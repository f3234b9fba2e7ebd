"""Violation-of-expectation sets (rule ``prepare_voe``): matched possible / impossible clips and their onsets.

A VoE set is written like a benchmark, an item table plus an uncompressed uint8 clip cache:

- ``{name}.parquet``: item_id, pair_id, property, possible (bool), onset_frame (the first stored frame
  of the violation), cache_row;
- ``{name}.npy``: uint8 ``(N, frames, S, S, 3)``, ``S = data.clip.size``; ``frames`` is the set's own
  clip length (at least ``data.clip.frames``, the models' window).

Every pair_id has exactly two clips, one possible and one impossible, of one property
(:func:`devcurriculum.voe_onset.pair_problems`). Sources:

- ``demo``: IntPhys-style quadruplets rendered by the demo world (:mod:`devcurriculum.demo.voe`); the
  onset is the first frame at which the two clips of a pair differ and every later frame differs too
  (:func:`devcurriculum.voe_onset.check_pair_frames`);
- ``manifest``: a CSV/Parquet file with ``path`` (a video or a folder of frame images), ``pair_id``,
  ``possible``, ``property`` and an optional ``onset_frame`` (in source frames);
- ``intphys``, ``grasp``, ``inflevel``: those benchmarks' folders (:mod:`devcurriculum.evalsets.voe_layouts`);
  an IntPhys quadruplet's movies are paired by where they diverge, as the reference pairs them.

Without a given onset the onset is the first stored frame at which the pair's clips differ (0 when
they differ from the start, so surprise is then read over the whole clip).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.config import (
    ClipConfig,
    DemoConfig,
    DemoVoESource,
    GraspVoESource,
    InflevelVoESource,
    IntPhysVoESource,
    ManifestVoESource,
    VoESetConfig,
)
from devcurriculum.datasets.manifest import ManifestError
from devcurriculum.evalsets.voe_layouts import (
    frame_images,
    grasp_items,
    inflevel_items,
    intphys_items,
    intphys_movies,
)
from devcurriculum.utils.io import provenance, table_from_columns, write_table
from devcurriculum.utils.manifest_files import read_table_file
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.serialize import save_npy
from devcurriculum.voe_onset import pair_problems, violation_onset

log = logging.getLogger("devcurriculum.evalsets.voe")

VOE_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("pair_id", pa.string(), nullable=False),
        pa.field("property", pa.string(), nullable=False),
        pa.field("possible", pa.bool_(), nullable=False),
        pa.field("onset_frame", pa.int64(), nullable=False),
        pa.field("cache_row", pa.int64(), nullable=False),
    ]
)
MANIFEST_COLUMNS = ("path", "pair_id", "possible", "property")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


# ---- manifests ----------------------------------------------------------------------------------


def _parse_possible(values: pd.Series) -> tuple[pd.Series, list[int]]:
    """``possible`` as bools (true/false, 1/0, yes/no); the 1-based rows that are none of these."""
    text = values.astype("string").str.strip().str.lower()
    parsed = text.map(lambda v: True if v in _TRUE else False if v in _FALSE else None, na_action="ignore")
    bad = [i + 1 for i, v in enumerate(parsed.tolist()) if v is None or v is pd.NA]
    return parsed, bad


def _parse_onsets(df: pd.DataFrame) -> tuple[list[int | None], list[int]]:
    """Optional ``onset_frame`` as non-negative ints (None where empty); the 1-based rows that are not."""
    if "onset_frame" not in df.columns:
        return [None] * len(df), []
    numeric = pd.to_numeric(df["onset_frame"], errors="coerce")
    given = df["onset_frame"].notna() & (df["onset_frame"].astype("string").str.strip() != "")
    bad_mask = given & (numeric.isna() | (numeric < 0) | (numeric % 1 != 0))
    onsets = [int(v) if g and not b else None for v, g, b in zip(numeric, given, bad_mask, strict=True)]
    return onsets, [int(i) + 1 for i in np.flatnonzero(bad_mask.to_numpy())]


def read_voe_manifest(path: PathLike) -> pd.DataFrame:
    """A validated VoE manifest: path (absolute), pair_id, possible (bool), property, onset_frame (source frame or None).

    Every problem (missing columns, empty cells, a ``possible`` that is not a boolean, a bad onset,
    a duplicate path, and bad pairs: a missing partner, two possible or two impossible clips, more
    than two clips, mixed properties) goes into one :class:`ManifestError` naming the rows and pairs.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise ManifestError(f"VoE manifest {manifest}: file not found")
    df = read_table_file(manifest, text_columns=("path", "pair_id", "property", "possible"), error=ManifestError)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing or not len(df):
        raise ManifestError(f"VoE manifest {manifest}: needs columns {list(MANIFEST_COLUMNS)} and at least one row; "
                            f"missing {missing}")
    df = df.reset_index(drop=True)
    problems = []
    for column in ("path", "pair_id", "property"):
        empty = df[column].isna() | (df[column].astype("string").str.strip() == "")
        if empty.any():
            problems.append(f"empty {column} in rows {_listed(np.flatnonzero(empty.to_numpy()) + 1)}")
    possible, bad_possible = _parse_possible(df["possible"])
    if bad_possible:
        problems.append(f"possible must be true/false (or 1/0, yes/no) in rows {_listed(bad_possible)}")
    onsets, bad_onsets = _parse_onsets(df)
    if bad_onsets:
        problems.append(f"onset_frame must be a non-negative integer in rows {_listed(bad_onsets)}")
    resolved = [str((manifest.resolve().parent / str(p).strip()).resolve()) for p in df["path"].fillna("")]
    dup = pd.Series(resolved).duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(f"duplicate path in rows {_listed(np.flatnonzero(dup) + 1)}")
    items = pd.DataFrame({
        "path": resolved, "pair_id": df["pair_id"].astype("string").str.strip(),
        "possible": possible.fillna(False).astype(bool), "property": df["property"].astype("string").str.strip(),
        "onset_frame": pd.Series(onsets, dtype=object), "row": np.arange(1, len(df) + 1),
    })
    if not problems:
        problems += pair_problems(items)
    if problems:
        raise ManifestError(f"VoE manifest {manifest}: " + "; ".join(problems))
    return items.drop(columns="row")


def _listed(rows: np.ndarray | list[int], limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in list(rows)[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


# ---- reading clips ------------------------------------------------------------------------------


def read_clip(path: PathLike, indices: np.ndarray, size: int, *, where: str) -> np.ndarray:
    """Frames ``indices`` of a video file or of a folder of frame images (sorted by name), resized like the clip cache."""
    from PIL import Image

    from devcurriculum.datasets.decode import VideoDecodeError, read_frames, resize_short_side_and_center_crop

    source = Path(path)
    if source.is_dir():
        images = frame_images(source)
        if len(images) <= indices[-1]:
            raise ValueError(f"{where} ({source}): {len(images)} frame images, needs {indices[-1] + 1}")
        raw = np.stack([np.asarray(Image.open(images[i]).convert("RGB")) for i in indices])
    else:
        try:
            raw = read_frames(source, indices)
        except VideoDecodeError as exc:
            raise VideoDecodeError(f"{where} ({source}): {exc}") from exc
        if len(raw) != len(indices):
            raise ValueError(f"{where} ({source}): decoded {len(raw)} of the {len(indices)} frames it needs")
    return resize_short_side_and_center_crop(raw, size)


def _read_clips(paths: list[str], frames: int, frame_step: int, size: int, where: str,
                starts: list[int] | None = None) -> np.ndarray:
    """``frames`` frames of each path, ``frame_step`` source frames apart from its start (default: its first)."""
    clips = np.empty((len(paths), frames, size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        indices = (starts[i] if starts else 0) + np.arange(frames, dtype=np.int64) * frame_step
        clips[i] = read_clip(path, indices, size, where=f"{where}: clip {i + 1} (frames, frame_step)")
    return clips


def _stored_onsets(items: pd.DataFrame, clips: np.ndarray, frame_step: int, where: str) -> list[int]:
    """Each clip's onset in stored frames: a given source-frame onset rounded up, else read from the pixels."""
    onsets = [0] * len(items)
    for pair_id, group in items.groupby("pair_id", sort=False):
        i, j = group.index
        given = [v for v in group["onset_frame"] if v is not None and not pd.isna(v)]
        if given:
            onset = math.ceil(int(max(given)) / frame_step)
        else:
            onset = violation_onset(clips[i], clips[j])
        if onset >= clips.shape[1]:
            raise ValueError(f"{where}: pair {pair_id!r} has no frame at or after its onset in its {clips.shape[1]} "
                             "frames (the clips are identical, or onset_frame lies beyond the frames read)")
        onsets[i] = onsets[j] = onset
    return onsets


# ---- the set ------------------------------------------------------------------------------------


def load_voe_set(
    name: str, voe_set: VoESetConfig, clip: ClipConfig, demo: DemoConfig | None,
    age_groups: Mapping[str, tuple[float, float]] | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Items (pair_id, property, possible, onset_frame) and their uint8 clips, in cache order."""
    where = f"voe.sets.{name}"
    if isinstance(voe_set, DemoVoESource):
        return _demo_items(voe_set, clip, demo, age_groups, where)
    step = voe_set.frame_step or clip.frame_step
    if isinstance(voe_set, ManifestVoESource):
        items = read_voe_manifest(voe_set.manifest).sort_values(["pair_id", "possible"], ascending=[True, False])
        items = items.reset_index(drop=True)
        clips = _read_clips(items["path"].tolist(), voe_set.frames, step, clip.size, where)
    elif isinstance(voe_set, IntPhysVoESource):
        movies = intphys_movies(voe_set.root, voe_set.blocks)
        clips = _read_clips(movies["path"].tolist(), voe_set.frames, step, clip.size, where)
        items = intphys_items(movies, clips).assign(onset_frame=None)
    else:
        if isinstance(voe_set, GraspVoESource):
            items = grasp_items(voe_set.root, voe_set.properties)
        else:
            assert isinstance(voe_set, InflevelVoESource)
            items = inflevel_items(voe_set.root, voe_set.metadata, voe_set.properties)
        clips = _read_clips(items["path"].tolist(), voe_set.frames, step, clip.size, where, items["start"].tolist())
        items = items.assign(onset_frame=None)
    items = items.assign(onset_frame=_stored_onsets(items, clips, step, where))
    return items[["pair_id", "property", "possible", "onset_frame"]], clips


def _demo_items(
    voe_set: DemoVoESource, clip: ClipConfig, demo: DemoConfig | None,
    age_groups: Mapping[str, tuple[float, float]] | None, where: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    from devcurriculum.demo.voe import render_voe_pairs

    if demo is None or age_groups is None:
        raise ValueError(f"{where}: source 'demo' needs the demo block (world, size, fps) and data.age_groups")
    pairs = render_voe_pairs(voe_set, world=demo.world, age_groups=age_groups, clip=clip, size=demo.size, fps=demo.fps)
    rows = [{"pair_id": f"{p.prop}_{p.index:03d}", "property": p.prop, "possible": possible, "onset_frame": p.onset}
            for p in pairs for possible in (True, False)]
    clips = np.stack([c for p in pairs for c in (p.possible, p.impossible)])
    return pd.DataFrame(rows), clips


def prepare_voe(
    *,
    name: str,
    voe_set: VoESetConfig,
    clip: ClipConfig,
    demo: DemoConfig | None,
    age_groups: Mapping[str, tuple[float, float]] | None,
    out_table: PathLike,
    out_cache: PathLike,
) -> int:
    """Build VoE set ``name`` and write its item table and uncompressed clip cache; returns the number of clips.

    ``demo`` (its ``world``, ``size`` and ``fps``) and ``age_groups`` are only read for ``source: demo``.
    """
    items, clips = load_voe_set(name, voe_set, clip, demo, age_groups)
    problems = pair_problems(items)
    if problems:
        raise ValueError(f"voe.sets.{name}: " + "; ".join(problems))
    item_ids = [f"{p}/{'possible' if ok else 'impossible'}" for p, ok in zip(items["pair_id"], items["possible"], strict=True)]
    table = table_from_columns(
        {"item_id": item_ids, "pair_id": items["pair_id"].astype(str).tolist(), "property": items["property"].astype(str).tolist(),
         "possible": items["possible"].astype(bool).tolist(), "onset_frame": items["onset_frame"].astype(int).tolist(),
         "cache_row": list(range(len(items)))},
        VOE_SCHEMA,
    )
    meta = provenance("prepare_voe", voe_set.shaping(), voe_set_name=name, clip=clip.shaping(), cache_shape=list(clips.shape))
    # Cache first, table second: the table is the file downstream rules key on.
    save_npy(out_cache, clips)
    write_table(table, out_table, metadata=meta)
    log.info("VoE set %s: %d pairs over properties %s, clips %s", name, len(items) // 2,
             sorted(items["property"].unique()), clips.shape)
    return len(items)
