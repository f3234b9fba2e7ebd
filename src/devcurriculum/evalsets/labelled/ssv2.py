"""Something-Something-v2 adapter: ``labels.json`` + ``train.json`` / ``validation.json`` onto the generic manifest.

Layout (as distributed): ``labels.json`` maps each class name to its id (``{"Putting something on a
surface": "119", ...}``); ``train.json`` and ``validation.json`` are lists of ``{"id": "78687",
"label": <the filled-in sentence>, "template": "Putting [something] on a surface", "placeholders":
[...]}``; the videos are ``<id>.webm`` (in ``20bn-something-something-v2/`` or any folder given).
The test set's labels are not public, so ``train.json`` is the train split and ``validation.json``
the test split.

Class names: ``labels.json`` spells them without brackets, the annotation files' ``template`` with
``[something]`` placeholders. A template is matched to its class by removing the square brackets
(``"Putting [something] on a surface"`` -> ``"Putting something on a surface"``) and comparing
exactly (case and spacing included, runs of blanks collapsed) with the ``labels.json`` key. The
class list passed in (the 10-class "easy" subset of the seed study, or any other) is matched the
same way, so a name may be written either as ``labels.json`` has it or with the brackets as in the
templates; labels in the benchmark are always the ``labels.json`` spelling. A name that matches no
class fails listing the closest class names. The item's free-text ``label`` (which names the actual
objects) is never used as the class.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from devcurriculum.evalsets.labelled.manifest import TEST, TRAIN, LabelledDataError, validate_manifest
from devcurriculum.utils.paths import PathLike

LABELS_JSON = "labels.json"
SPLIT_FILES = ((TRAIN, "train.json"), (TEST, "validation.json"))
VIDEO_FOLDER = "20bn-something-something-v2"
_BRACKETS = re.compile(r"\[([^\]]*)\]")


def class_key(text: str) -> str:
    """A class name or template in the form used for matching: brackets removed, blanks collapsed."""
    return " ".join(_BRACKETS.sub(r"\1", text).split())


def _find_file(root: Path, name: str) -> Path:
    for folder in (root, root / "labels", root / "something-something-v2-labels"):
        if (folder / name).is_file():
            return folder / name
    raise LabelledDataError(f"ssv2: {name} not found in {root} (or its labels/ folder)")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabelledDataError(f"ssv2: {path} cannot be read as JSON ({exc})") from exc


def read_class_names(path: Path) -> dict[str, str]:
    """``labels.json`` as ``{match key: class name as labels.json spells it}``."""
    labels = _load_json(path)
    if not isinstance(labels, dict) or not labels:
        raise LabelledDataError(f"ssv2: {path} must be a non-empty JSON object of class name -> id")
    return {class_key(name): name for name in labels}


def choose_classes(wanted: Sequence[str] | None, known: dict[str, str]) -> dict[str, str]:
    """The subset of ``known`` (match key -> name) named by ``wanted``; all when ``None``.

    Unknown or repeated names fail in one message (with the closest class names as hints).
    """
    if wanted is None:
        return dict(known)
    if isinstance(wanted, str) or not wanted:
        raise LabelledDataError(f"ssv2: classes must be a non-empty list of class names, got {wanted!r}")
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for name in wanted:
        key = class_key(name)
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            problems.append(f"{name!r} is not a class of labels.json" + (f" (closest: {close})" if close else ""))
        elif key in chosen:
            problems.append(f"{name!r} is listed twice")
        else:
            chosen[key] = known[key]
    if problems:
        raise LabelledDataError("ssv2: classes: " + "; ".join(problems))
    return chosen


def _entries(path: Path) -> list[dict[str, Any]]:
    entries = _load_json(path)
    if not isinstance(entries, list):
        raise LabelledDataError(f"ssv2: {path} must be a JSON list of annotations")
    return entries


def ssv2_manifest(
    *, root: PathLike, classes: Sequence[str] | None, videos: PathLike | None = None
) -> pd.DataFrame:
    """The labelled manifest of the SSv2 videos whose class is in ``classes`` (``None``: all 174).

    ``root``: the folder with ``labels.json``, ``train.json``, ``validation.json`` (or a
    ``labels/`` folder inside it); ``videos``: the folder with ``<id>.webm`` (default:
    ``root/20bn-something-something-v2`` if it exists, else ``root``).
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise LabelledDataError(f"ssv2: folder not found: {base}")
    video_dir = Path(videos).expanduser().resolve() if videos is not None else (
        base / VIDEO_FOLDER if (base / VIDEO_FOLDER).is_dir() else base
    )
    known = read_class_names(_find_file(base, LABELS_JSON))
    chosen = choose_classes(classes, known)
    rows = []
    for split_name, file_name in SPLIT_FILES:
        path = _find_file(base, file_name)
        for number, entry in enumerate(_entries(path), start=1):
            if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
                raise LabelledDataError(f"ssv2: {path} entry {number}: needs 'id' and 'template', got {entry!r}")
            key = class_key(str(entry["template"]))
            if key not in known:
                raise LabelledDataError(
                    f"ssv2: {path} entry {number} (id {entry['id']}): template {entry['template']!r} "
                    f"matches no class of {LABELS_JSON}"
                )
            if key in chosen:
                file = f"{entry['id']}.webm"
                rows.append({"item_id": file, "path": str(video_dir / file), "label": chosen[key], "split": split_name})
    if not rows:
        raise LabelledDataError(f"ssv2 ({base}): no annotated video belongs to the chosen classes")
    return validate_manifest(pd.DataFrame(rows), where=f"ssv2 ({base})")
