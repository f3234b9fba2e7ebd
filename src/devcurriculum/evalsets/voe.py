"""Violation-of-expectation sets (rule ``prepare_voe``): matched possible / impossible clips and their onsets.

A VoE set is written like a benchmark, an item table plus an uncompressed uint8 clip cache:

- ``{name}.parquet``: item_id, pair_id, property, possible (bool), onset_frame (the first stored frame
  of the violation), cache_row;
- ``{name}.npy``: uint8 ``(N, frames, S, S, 3)``, ``S = data.clip.size``; ``frames`` is the set's own
  clip length (at least ``data.clip.frames``, the models' window).

Every pair_id has exactly two clips, one possible and one impossible, of one property
(:func:`devcurriculum.voe_onset.pair_problems`). Sources:

- ``demo``: rendered by the demo world (:mod:`devcurriculum.demo.voe`); the onset is the first frame
  at which the two clips differ and every later frame differs too (:func:`devcurriculum.voe_onset.check_pair_frames`);
- ``manifest``: a CSV/Parquet file with ``path`` (a video or a folder of frame images), ``pair_id``,
  ``possible``, ``property`` and an optional ``onset_frame`` (in source frames);
- ``intphys``: an IntPhys-style folder ``<root>/<block>/<scene>/<movie>/`` (``status.json`` with
  ``header.is_possible``, frames in ``scene/``); each scene's 2 possible + 2 impossible movies become
  two pairs, each impossible movie matched with the possible one whose first frame it resembles most
  (the impossible movies of a quadruplet are built from the possible ones' beginnings).

Without a given onset the onset is the first stored frame at which the pair's clips differ (0 when
they differ from the start, so surprise is then read over the whole clip).
"""

from __future__ import annotations

import json
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
    IntPhysVoESource,
    ManifestVoESource,
    VoESetConfig,
)
from devcurriculum.datasets.manifest import ManifestError
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
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
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


# ---- IntPhys-style folders ----------------------------------------------------------------------


def _is_possible(movie: Path) -> bool:
    status = movie / "status.json"
    if not status.is_file():
        raise ManifestError(f"IntPhys movie {movie}: no status.json (it says whether the movie is possible)")
    try:
        return bool(json.loads(status.read_text())["header"]["is_possible"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{status}: cannot read header.is_possible ({exc})") from exc


def intphys_movies(root: PathLike, blocks: Mapping[str, str]) -> pd.DataFrame:
    """One row per movie of the listed blocks: path (its ``scene/`` folder), block, scene, movie, property, possible.

    Every scene must be a quadruplet of 2 possible + 2 impossible movies; the error names the scene.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise ManifestError(f"IntPhys folder {folder}: not found")
    rows = []
    for block, prop in blocks.items():
        for scene in sorted(p for p in (folder / block).glob("*") if p.is_dir()):
            movies = sorted(p for p in scene.iterdir() if p.is_dir())
            flags = [_is_possible(m) for m in movies]
            if len(movies) != 4 or sum(flags) != 2:
                raise ManifestError(f"IntPhys scene {scene}: expected a quadruplet of 2 possible + 2 impossible movies, "
                                    f"found {sum(flags)} possible and {len(flags) - sum(flags)} impossible")
            rows += [{"path": str(m / "scene"), "block": block, "scene": scene.name, "movie": m.name,
                      "property": prop, "possible": f} for m, f in zip(movies, flags, strict=True)]
    if not rows:
        raise ManifestError(f"IntPhys folder {folder}: no scenes in blocks {list(blocks)}")
    return pd.DataFrame(rows)


def match_quadruplet(first_frames: Mapping[str, np.ndarray], possible: list[str], impossible: list[str]) -> list[tuple[str, str]]:
    """Pair each impossible movie with the possible one whose first frame it resembles most (least total
    mean absolute difference over the two pairings; ties keep the movies' order)."""
    def distance(a: str, b: str) -> float:
        return float(np.mean(np.abs(first_frames[a].astype(np.int16) - first_frames[b].astype(np.int16))))

    straight = distance(possible[0], impossible[0]) + distance(possible[1], impossible[1])
    crossed = distance(possible[0], impossible[1]) + distance(possible[1], impossible[0])
    order = impossible if straight <= crossed else impossible[::-1]
    return list(zip(possible, order, strict=True))


def intphys_items(movies: pd.DataFrame, clips: np.ndarray) -> pd.DataFrame:
    """Rows of :func:`intphys_movies` (in cache order) paired within each scene: adds pair_id."""
    pair_ids = [""] * len(movies)
    for (block, scene), group in movies.groupby(["block", "scene"], sort=True):
        rows = {str(i): i for i in group.index}
        first = {key: clips[i][0] for key, i in rows.items()}
        possible = [str(i) for i in group.index if group.at[i, "possible"]]
        impossible = [str(i) for i in group.index if not group.at[i, "possible"]]
        for k, (p, q) in enumerate(match_quadruplet(first, possible, impossible), start=1):
            pair_ids[rows[p]] = pair_ids[rows[q]] = f"{block}/{scene}/{k}"
    return movies.assign(pair_id=pair_ids, onset_frame=None)


# ---- reading clips ------------------------------------------------------------------------------


def read_clip(path: PathLike, indices: np.ndarray, size: int, *, where: str) -> np.ndarray:
    """Frames ``indices`` of a video file or of a folder of frame images (sorted by name), resized like the clip cache."""
    from PIL import Image

    from devcurriculum.datasets.decode import VideoDecodeError, read_frames, resize_short_side_and_center_crop

    source = Path(path)
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
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


def _read_clips(paths: list[str], frames: int, frame_step: int, size: int, where: str) -> np.ndarray:
    indices = np.arange(frames, dtype=np.int64) * frame_step
    clips = np.empty((len(paths), frames, size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
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
    else:
        assert isinstance(voe_set, IntPhysVoESource)
        movies = intphys_movies(voe_set.root, voe_set.blocks)
        clips = _read_clips(movies["path"].tolist(), voe_set.frames, step, clip.size, where)
        items = intphys_items(movies, clips)
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
