"""UCF-101 adapter: the official train/test split lists onto the generic labelled manifest.

Layout (as distributed): ``classInd.txt`` (``<index> <ClassName>`` per line, 1-based),
``trainlist0N.txt`` (``<ClassName>/v_<ClassName>_gGG_cCC.avi <index>``), ``testlist0N.txt``
(``<ClassName>/v_..._gGG_cCC.avi``), usually in a folder ``ucfTrainTestlist``; videos under
``<videos>/<ClassName>/v_*.avi`` or all in one flat folder.

The label of a video is the class folder named in the split list (the first path component),
looked up in ``classInd.txt`` (exactly, else case-insensitively); a train-list index that disagrees
with ``classInd.txt`` is an error naming the file and line. The group of a video is its class and
``gGG`` (the clips of one long YouTube video), which the official splits keep on one side.
Item ids are the list paths (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi``), the same whether the
videos are nested or flat.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from devcurriculum.config import UCF101Source
from devcurriculum.evalsets.labelled.manifest import TEST, TRAIN, LabelledDataError, validate_manifest
from devcurriculum.utils.paths import PathLike

CLASS_INDEX = "classInd.txt"
ANNOTATION_FOLDER = "ucfTrainTestlist"
_GROUP = re.compile(r"^v_(?P<name>.+)_g(?P<group>\d+)_c\d+$")


def find_annotations(root: Path, annotations: PathLike | None) -> Path:
    """The folder holding ``classInd.txt``: ``annotations`` if given, else ``root``,
    ``root/ucfTrainTestlist`` or ``root/../ucfTrainTestlist``."""
    candidates = [Path(annotations)] if annotations is not None else [
        root, root / ANNOTATION_FOLDER, root.parent / ANNOTATION_FOLDER,
    ]
    for folder in candidates:
        if (folder / CLASS_INDEX).is_file():
            return folder
    raise LabelledDataError(f"ucf101: {CLASS_INDEX} not found in {[str(c) for c in candidates]}")


def read_class_index(path: Path) -> dict[str, int]:
    """``classInd.txt`` as ``{class_name: index}``; malformed or repeated lines name the line."""
    classes: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise LabelledDataError(f"{path} line {number}: expected '<index> <ClassName>', got {line!r}")
        index, name = int(parts[0]), parts[1]
        if name in classes or index in classes.values():
            raise LabelledDataError(f"{path} line {number}: class {name!r} or index {index} appears twice")
        classes[name] = index
    if not classes:
        raise LabelledDataError(f"{path}: no classes")
    return classes


def _class_of(entry: str, classes: dict[str, int], where: str) -> str:
    folder = entry.split("/", maxsplit=1)[0] if "/" in entry else None
    if folder is None:
        raise LabelledDataError(f"{where}: {entry!r} has no class folder (expected <ClassName>/v_*.avi)")
    if folder in classes:
        return folder
    by_lower = {name.lower(): name for name in classes}
    if folder.lower() in by_lower:
        return by_lower[folder.lower()]
    raise LabelledDataError(f"{where}: class folder {folder!r} of {entry!r} is not in {CLASS_INDEX}")


def _group_of(entry: str, label: str) -> str:
    stem = Path(entry).stem
    match = _GROUP.match(stem)
    return f"{label}_g{match['group']}" if match else stem


def _video_path(videos: Path, entry: str) -> Path:
    """``videos/<Class>/<file>`` if it exists, else ``videos/<file>`` (flat) if that exists, else the nested path."""
    nested = videos / entry
    if nested.exists():
        return nested
    flat = videos / Path(entry).name
    return flat if flat.exists() else nested


def read_split_list(path: Path, classes: dict[str, int], *, with_index: bool) -> list[tuple[str, str]]:
    """``[(entry, label)]`` of a train or test list; train-list indices are checked against ``classInd``."""
    if not path.is_file():
        raise LabelledDataError(f"ucf101: split list not found: {path}")
    rows: list[tuple[str, str]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path} line {number}"
        entry = parts[0].replace("\\", "/")
        label = _class_of(entry, classes, where)
        if with_index and len(parts) > 1 and (not parts[1].isdigit() or int(parts[1]) != classes[label]):
            raise LabelledDataError(
                f"{where}: index {parts[1]!r} disagrees with {CLASS_INDEX} ({label} = {classes[label]})"
            )
        rows.append((entry, label))
    return rows


def ucf101_manifest(
    *, root: PathLike, annotations: PathLike | None = None, split_number: int = UCF101Source.split_number
) -> pd.DataFrame:
    """The labelled manifest of UCF-101 train/test split ``split_number`` (1, 2 or 3; the seed study uses 1).

    ``root``: the folder with the videos (nested by class or flat); ``annotations``: the folder with
    ``classInd.txt`` and the split lists (default: found next to the videos, see
    :func:`find_annotations`).
    """
    if split_number not in (1, 2, 3):
        raise ValueError(f"ucf101: split_number must be 1, 2 or 3, got {split_number!r}")
    videos = Path(root).expanduser().resolve()
    if not videos.is_dir():
        raise LabelledDataError(f"ucf101: video folder not found: {videos}")
    folder = find_annotations(videos, annotations)
    classes = read_class_index(folder / CLASS_INDEX)
    rows: list[dict[str, str]] = []
    for split_name, list_name, with_index in ((TRAIN, "trainlist", True), (TEST, "testlist", False)):
        listed = read_split_list(folder / f"{list_name}{split_number:02d}.txt", classes, with_index=with_index)
        rows.extend(
            {
                "item_id": entry,
                "path": str(_video_path(videos, entry)),
                "label": label,
                "split": split_name,
                "group": _group_of(entry, label),
            }
            for entry, label in listed
        )
    return validate_manifest(pd.DataFrame(rows), where=f"ucf101 split {split_number} ({folder})")
