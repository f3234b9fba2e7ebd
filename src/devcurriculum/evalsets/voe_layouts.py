"""The on-disk layouts of the published VoE benchmarks: which videos form a pair, and where to read them.

Each reader returns one row per video (``path``, ``pair_id``, ``property``, ``possible`` and ``start``,
the first source frame to read), pairs kept together; :mod:`devcurriculum.evalsets.voe` reads the
frames and derives the onsets. The layouts are those the reference evaluation reads
(facebookresearch/jepa-intuitive-physics, ``evals/intuitive_physics/*_dataset.py``; docs/voe.md
"Published benchmarks"):

- **IntPhys** (dev): ``<root>/<block>/<scene>/<movie>/scene/*.png`` with ``<movie>/status.json``
  (``header.is_possible``); a scene is a quadruplet of 2 possible + 2 impossible movies, paired as the
  reference's ``get_breaking_points`` / ``get_matches`` do, by where they diverge
  (:func:`divergence_matches`), since IntPhys splices each impossible movie from the beginning of one
  possible movie and the end of the other;
- **GRASP** (level 2): ``<root>/P_<Property>/<name>`` possible and ``<root>/IP_<Property>/<name>``
  impossible, the same file name (the generator's Unity seed) pairing them;
- **InfLevel-lab**: videos under ``<root>`` listed in one CSV per property, one row per pair
  (``vid1_path, vid1_end_priming_2, vid1_label, vid2_path, vid2_end_priming_2, vid2_label``, ...); the
  frames after each video's second priming segment are read, the longer video shifted so both end
  together, as the reference's non-priming loader does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.datasets.manifest import ManifestError
from devcurriculum.utils.paths import PathLike
from devcurriculum.voe_onset import violation_onset

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
INFLEVEL_COLUMNS = ("vid1_path", "vid1_end_priming_2", "vid1_label", "vid2_path", "vid2_end_priming_2", "vid2_label")
INFLEVEL_LABELS = {"possible": True, "impossible": False}


def frame_images(folder: Path) -> list[Path]:
    """A frame folder's images, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def clip_length(path: PathLike) -> int:
    """Frames of a video file (decoded in full) or of a folder of frame images."""
    from devcurriculum.datasets.decode import VideoDecodeError, probe_video

    source = Path(path)
    if source.is_dir():
        return len(frame_images(source))
    if not source.is_file():
        raise ManifestError(f"{source}: video not found")
    try:
        return probe_video(source).n_frames
    except VideoDecodeError as exc:
        raise ManifestError(f"{source}: {exc}") from exc


# ---- IntPhys ------------------------------------------------------------------------------------


def _is_possible(movie: Path) -> bool:
    status = movie / "status.json"
    if not status.is_file():
        raise ManifestError(f"IntPhys movie {movie}: no status.json (it says whether the movie is possible)")
    try:
        return bool(json.loads(status.read_text())["header"]["is_possible"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{status}: cannot read header.is_possible ({exc})") from exc


def intphys_movies(root: PathLike, blocks: Mapping[str, str]) -> pd.DataFrame:
    """One row per movie of the listed blocks, scenes and movies in folder-name order: path (its ``scene/``
    folder), block, scene, movie, property, possible, start (0).

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
                      "property": prop, "possible": f, "start": 0} for m, f in zip(movies, flags, strict=True)]
    if not rows:
        raise ManifestError(f"IntPhys folder {folder}: no scenes in blocks {list(blocks)}")
    return pd.DataFrame(rows)


def breaking_points(movies: Sequence[np.ndarray]) -> list[int]:
    """The reference's ``get_breaking_points``: the first frame at which movie 0 differs from each other movie
    (its length when they never differ). Here a frame differs when any stored pixel does; the reference
    compares the signed sum of each frame's differences with zero, which a change whose brighter and darker
    pixels cancel would pass unnoticed."""
    return [violation_onset(movies[0], other) for other in movies[1:]]


def divergence_matches(movies: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """The reference's ``get_matches``: movie 0 with the movie that stays identical to it longest (the first
    such on a tie), the other two together. The labels are not consulted."""
    if len(movies) != 4:
        raise ValueError(f"a quadruplet has 4 movies, got {len(movies)}")
    partner = 1 + int(np.argmax(breaking_points(movies)))
    rest = [i for i in (1, 2, 3) if i != partner]
    return [(0, partner), (rest[0], rest[1])]


def intphys_items(movies: pd.DataFrame, clips: np.ndarray) -> pd.DataFrame:
    """Rows of :func:`intphys_movies` (in cache order) paired within each scene by divergence: adds pair_id.

    A match that is not one possible and one impossible movie is an error naming the scene.
    """
    pair_ids = [""] * len(movies)
    for (block, scene), group in movies.groupby(["block", "scene"], sort=True):
        rows = list(group.index)
        for k, (i, j) in enumerate(divergence_matches([clips[r] for r in rows]), start=1):
            a, b = rows[i], rows[j]
            if bool(movies.at[a, "possible"]) == bool(movies.at[b, "possible"]):
                kind = "possible" if movies.at[a, "possible"] else "impossible"
                names = f"{movies.at[a, 'movie']!s} and {movies.at[b, 'movie']!s}"
                raise ManifestError(f"IntPhys scene {block!s}/{scene!s}: movies {names} pair by divergence but are "
                                    f"both {kind}; a pair needs one of each")
            pair_ids[a] = pair_ids[b] = f"{block}/{scene}/{k}"
    return movies.assign(pair_id=pair_ids)


# ---- GRASP --------------------------------------------------------------------------------------


def grasp_items(root: PathLike, properties: Sequence[str] | None) -> pd.DataFrame:
    """One row per video of ``<root>/P_<Property>`` (possible) and ``<root>/IP_<Property>`` (impossible), paired
    by file name; ``properties`` None reads every ``P_`` folder. A name in one folder only is an error."""
    folder = Path(root)
    if not folder.is_dir():
        raise ManifestError(f"GRASP folder {folder}: not found")
    if properties is None:
        properties = sorted(p.name[2:] for p in folder.glob("P_*") if p.is_dir())
        if not properties:
            raise ManifestError(f"GRASP folder {folder}: no P_<Property> folders")
    rows = []
    for prop in properties:
        sides = {True: folder / f"P_{prop}", False: folder / f"IP_{prop}"}
        absent = [str(p) for p in sides.values() if not p.is_dir()]
        if absent:
            raise ManifestError(f"GRASP property {prop}: folder(s) {absent} not found")
        names = {ok: sorted(p.name for p in side.iterdir() if not p.name.startswith(".")) for ok, side in sides.items()}
        alone = sorted(set(names[True]) ^ set(names[False]))
        if alone:
            raise ManifestError(f"GRASP property {prop}: {alone[:5]} in only one of P_{prop} / IP_{prop} "
                                "(a pair is the same file name in both)")
        for name in names[True]:
            for ok in (True, False):
                rows.append({"path": str(sides[ok] / name), "pair_id": f"{prop}/{Path(name).stem}", "property": prop,
                             "possible": ok, "start": 0})
    return pd.DataFrame(rows)


# ---- InfLevel-lab -------------------------------------------------------------------------------


def aligned_starts(length1: int, end1: int, length2: int, end2: int) -> tuple[int, int]:
    """The first frame after each video's second priming segment, the longer remainder shifted so both end
    together (the reference's ``diff``, non-priming mode)."""
    diff = (length1 - end1) - (length2 - end2)
    first1 = end1 + diff + 1 if diff > 0 else end1 + 1
    first2 = end2 - diff + 1 if diff < 0 else end2 + 1
    return first1, first2


def inflevel_items(root: PathLike, metadata: PathLike | None, properties: Sequence[str]) -> pd.DataFrame:
    """One row per video of every ``<metadata>/<property>.csv`` row (two per row, one pair), with the start of
    its test segment (:func:`aligned_starts`); errors name the CSV and its row (1 = the first after the header)."""
    from devcurriculum.utils.manifest_files import read_table_file

    folder = Path(root)
    if not folder.is_dir():
        raise ManifestError(f"InfLevel folder {folder}: not found")
    meta = Path(metadata) if metadata is not None else folder
    rows = []
    for prop in properties:
        csv = meta / f"{prop}.csv"
        if not csv.is_file():
            raise ManifestError(f"InfLevel property {prop}: {csv} not found")
        table = read_table_file(csv, text_columns=("vid1_path", "vid2_path", "vid1_label", "vid2_label"),
                                error=ManifestError)
        missing = [c for c in INFLEVEL_COLUMNS if c not in table.columns]
        if missing:
            raise ManifestError(f"{csv}: needs columns {list(INFLEVEL_COLUMNS)}; missing {missing}")
        for n, row in enumerate(table.itertuples(index=False), start=1):
            labels = [str(row.vid1_label).strip().lower(), str(row.vid2_label).strip().lower()]
            if sorted(labels) != ["impossible", "possible"]:
                raise ManifestError(f"{csv} row {n}: labels {labels}; a pair is one possible and one impossible video")
            paths = [folder / str(row.vid1_path).strip(), folder / str(row.vid2_path).strip()]
            ends = [int(row.vid1_end_priming_2), int(row.vid2_end_priming_2)]
            lengths = [clip_length(p) for p in paths]
            starts = aligned_starts(lengths[0], ends[0], lengths[1], ends[1])
            for path, label, start in zip(paths, labels, starts, strict=True):
                rows.append({"path": str(path), "pair_id": f"{prop}/{n:05d}", "property": prop,
                             "possible": INFLEVEL_LABELS[label], "start": start})
    return pd.DataFrame(rows)
