"""ToyBox adapter: label and object identity from ToyBox's file names.

ToyBox (Wang et al. 2018, arXiv:1806.06034) has 12 categories of 30 objects each, filmed with a
head-mounted Pivothead camera while being handled. Its videos are named

    <category>_<objectnumber>_pivothead_<transformation>.mp4     e.g. cup_03_pivothead_rzplus.mp4

and, as distributed, sit in ``<supercategory>/<category>_<NN>_pivothead/`` folders
(``animals/cat_04_pivothead/cat_04_pivothead_hodgepodge.mp4``); the adapter searches ``root``
recursively, so that nesting or a flat folder both work. Transformations are ``absent``,
``present``, ``hodgepodge`` and the nine structured ones ``rxplus``, ``rxminus``, ``ryplus``,
``ryminus``, ``rzplus``, ``rzminus``, ``tx``, ``ty``, ``tz``. (Convention read from public code that
loads ToyBox; the dataset's own page was not reachable here.)

Label = category; group = ``<category>_<NN>`` (the object identity), so a grouped split keeps all
videos of one object on one side (the exemplar split). An ``.mp4`` that does not follow the naming
is an error naming it: its label would otherwise have to be guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from devcurriculum.evalsets.labelled.folders import is_hidden, list_names
from devcurriculum.evalsets.labelled.manifest import LabelledDataError, validate_manifest
from devcurriculum.utils.paths import PathLike

TRANSFORMATIONS = (
    "absent", "present", "hodgepodge",
    "rxplus", "rxminus", "ryplus", "ryminus", "rzplus", "rzminus", "tx", "ty", "tz",
)
TOYBOX_NAME = re.compile(
    r"^(?P<category>[a-z]+)_(?P<object>\d+)_pivothead_(?P<transformation>[a-z]+)\.mp4$", re.IGNORECASE
)


def _videos(root: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found.extend(Path(current) / f for f in sorted(files) if f.lower().endswith(".mp4") and not is_hidden(f))
    return found


def toybox_manifest(*, root: PathLike, transformations: Sequence[str] | None = None) -> pd.DataFrame:
    """The labelled manifest of the ToyBox videos under ``root`` with the given ``transformations``
    (``None``: all). Columns: label = category, group = ``<category>_<NN>``; no split (ToyBox has
    none: use split mode ``grouped``).
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise LabelledDataError(f"toybox: folder not found: {base}")
    wanted = _wanted_transformations(transformations)
    rows = []
    misnamed: list[str] = []
    for video in _videos(base):
        match = TOYBOX_NAME.match(video.name)
        if match is None or match["transformation"].lower() not in TRANSFORMATIONS:
            misnamed.append(video.relative_to(base).as_posix())
            continue
        if match["transformation"].lower() not in wanted:
            continue
        category = match["category"].lower()
        rows.append(
            {
                "item_id": video.relative_to(base).as_posix(),
                "path": str(video),
                "label": category,
                "group": f"{category}_{int(match['object']):02d}",
            }
        )
    if misnamed:
        raise LabelledDataError(
            f"toybox ({base}): file name(s) not of the form <category>_<NN>_pivothead_<transformation>.mp4 "
            f"with a transformation in {list(TRANSFORMATIONS)}: {list_names(misnamed)}"
        )
    if not rows:
        raise LabelledDataError(f"toybox ({base}): no videos with transformations {sorted(wanted)}")
    return validate_manifest(pd.DataFrame(rows), where=f"toybox ({base})")


def _wanted_transformations(transformations: Sequence[str] | None) -> set[str]:
    if transformations is None:
        return set(TRANSFORMATIONS)
    wanted = {t.lower() for t in transformations}
    unknown = sorted(wanted - set(TRANSFORMATIONS))
    if unknown or not wanted:
        raise LabelledDataError(f"toybox: unknown transformation(s) {unknown}; known: {list(TRANSFORMATIONS)}")
    return wanted
