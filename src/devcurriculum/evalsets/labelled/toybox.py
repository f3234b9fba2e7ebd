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

Tasks (the seed study's two ToyBox readouts): ``category`` (label = the category) or
``transformation`` (label = the transformation, the name's 4th ``_``-separated part). Group =
``<category>_<NN>`` (the object identity) for both, so a grouped split keeps all videos of one object
on one side (the exemplar split).

Irregular names: a few distributed files deviate from the pattern (the seed study patched three rows of
its embedding table *by position* after sorting, turning them into ``car_03_pivothead_rzminus.mp4``,
``duck_06_pivothead_rxminus.mp4`` and ``giraffe_02_pivothead_rzplus.mp4``). Here a name is read
tolerantly instead: case ignored, the parts split at any run of non-alphanumeric characters and at
letter/digit boundaries, repeated ``.mp4`` extensions and trailing copy numbers (``rzplus (1)``)
dropped, the transformation's parts joined (``rz_minus`` -> ``rzminus``). A name that then reads as
``<category> <NN> pivothead <transformation>`` is used and logged with its normalised form; any other
``.mp4`` is an error naming it: its label would otherwise have to be guessed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd

from devcurriculum.evalsets.labelled.folders import is_hidden, list_names
from devcurriculum.evalsets.labelled.manifest import LabelledDataError, validate_manifest
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.evalsets.labelled.toybox")

ToyBoxTask = Literal["category", "transformation"]
TOYBOX_TASKS = ("category", "transformation")
TRANSFORMATIONS = (
    "absent", "present", "hodgepodge",
    "rxplus", "rxminus", "ryplus", "ryminus", "rzplus", "rzminus", "tx", "ty", "tz",
)
TOYBOX_NAME = re.compile(
    r"^(?P<category>[a-z]+)_(?P<object>\d+)_pivothead_(?P<transformation>[a-z]+)\.mp4$", re.IGNORECASE
)
_PARTS = re.compile(r"[a-z]+|\d+")


class ToyBoxName(NamedTuple):
    """What a ToyBox file name says: category, object number, transformation; ``regular`` if it follows the pattern."""

    category: str
    object: int
    transformation: str
    regular: bool

    @property
    def normalised(self) -> str:
        return f"{self.category}_{self.object:02d}_pivothead_{self.transformation}.mp4"


def parse_toybox_name(name: str) -> ToyBoxName | None:
    """The parts of a ToyBox file name, read tolerantly for irregular names (module docstring); None if unreadable."""
    match = TOYBOX_NAME.match(name)
    if match is not None and match["transformation"].lower() in TRANSFORMATIONS:
        return ToyBoxName(match["category"].lower(), int(match["object"]), match["transformation"].lower(), True)
    stem = name.lower()
    if not stem.endswith(".mp4"):
        return None
    while stem.endswith(".mp4"):
        stem = stem[: -len(".mp4")]
    parts = _PARTS.findall(stem)
    if len(parts) < 4 or not parts[0].isalpha() or not parts[1].isdigit() or parts[2] != "pivothead":
        return None
    rest = parts[3:]
    while rest and rest[-1].isdigit():  # a copy number: "rzplus (1)", "rzplus_2"
        rest.pop()
    transformation = "".join(rest)
    if transformation not in TRANSFORMATIONS:
        return None
    return ToyBoxName(parts[0], int(parts[1]), transformation, False)


def _videos(root: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found.extend(Path(current) / f for f in sorted(files) if f.lower().endswith(".mp4") and not is_hidden(f))
    return found


def toybox_manifest(
    *, root: PathLike, transformations: Sequence[str] | None = None, task: ToyBoxTask = "category"
) -> pd.DataFrame:
    """The labelled manifest of the ToyBox videos under ``root`` with the given ``transformations``
    (``None``: all). Columns: label = category (``task="category"``) or transformation
    (``task="transformation"``), group = ``<category>_<NN>``; no split (ToyBox has none: use split
    mode ``grouped`` for the exemplar split, ``stratified`` for the seed study's clip-level split).
    """
    if task not in TOYBOX_TASKS:
        raise ValueError(f"toybox: task must be one of {list(TOYBOX_TASKS)}, got {task!r}")
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise LabelledDataError(f"toybox: folder not found: {base}")
    wanted = _wanted_transformations(transformations)
    rows = []
    misnamed: list[str] = []
    irregular: list[str] = []
    for video in _videos(base):
        relative = video.relative_to(base).as_posix()
        parsed = parse_toybox_name(video.name)
        if parsed is None:
            misnamed.append(relative)
            continue
        if not parsed.regular:
            irregular.append(f"{relative} -> {parsed.normalised}")
        if parsed.transformation not in wanted:
            continue
        rows.append(
            {
                "item_id": relative,
                "path": str(video),
                "label": parsed.category if task == "category" else parsed.transformation,
                "group": f"{parsed.category}_{parsed.object:02d}",
            }
        )
    if irregular:
        log.warning("toybox (%s): %d irregular file name(s) read as: %s", base, len(irregular), list_names(irregular))
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
