"""``video_folder`` and ``image_folder`` sources: ``root/<class>/<file>`` trees.

The label of a file is the name of the top-level folder it sits under, and nothing else: a file
deeper down (``root/<class>/any/sub/folders/<file>``) still takes ``<class>``; a media file directly
in ``root`` has no class and is an error naming it (dropping it silently would hide a mis-laid
dataset); a class folder without a single media file is an error naming it (its class would
otherwise vanish without a trace). Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``)
and files of other types (a README, a checksum list) are ignored and counted in the log. Symlinked
folders are followed. Item ids are paths relative to ``root``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from devcurriculum.evalsets.labelled.manifest import LabelledDataError, validate_manifest
from devcurriculum.utils.manifest_files import MAX_ROWS_SHOWN
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.evalsets.labelled.folders")

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".gif"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def _media_files(folder: Path, extensions: frozenset[str]) -> tuple[list[Path], int]:
    """Media files under ``folder`` (recursive, sorted, hidden entries skipped) and a count of other files."""
    found: list[Path] = []
    other = 0
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if is_hidden(name):
                continue
            if Path(name).suffix.lower() in extensions:
                found.append(Path(current) / name)
            else:
                other += 1
    return found, other


def list_names(paths: Iterable[str]) -> str:
    names = list(paths)
    more = f" and {len(names) - MAX_ROWS_SHOWN} more" if len(names) > MAX_ROWS_SHOWN else ""
    return ", ".join(repr(n) for n in names[:MAX_ROWS_SHOWN]) + more


def class_folder_manifest(root: PathLike, *, extensions: frozenset[str], where: str) -> pd.DataFrame:
    """The labelled manifest of a ``root/<class>/...`` tree of files with ``extensions`` (lower case)."""
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise LabelledDataError(f"{where}: folder not found: {base}")
    entries = sorted(p for p in base.iterdir() if not is_hidden(p.name))
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() in extensions]
    class_dirs = [p for p in entries if p.is_dir()]
    rows: list[dict[str, str]] = []
    empty: list[str] = []
    ignored = sum(1 for p in entries if p.is_file() and p.suffix.lower() not in extensions)
    for class_dir in class_dirs:
        files, other = _media_files(class_dir, extensions)
        ignored += other
        if not files:
            empty.append(class_dir.name)
        rows.extend({"path": str(f), "label": class_dir.name, "item_id": f.relative_to(base).as_posix()} for f in files)
    problems = []
    if loose:
        problems.append(f"files directly in the root have no class folder: {list_names(loose)}")
    if empty:
        problems.append(f"class folder(s) with no {'/'.join(sorted(extensions))} file: {list_names(empty)}")
    if not class_dirs:
        problems.append("no class folders (expected root/<class>/<file>)")
    if problems:
        raise LabelledDataError(f"{where} ({base}): " + "; ".join(problems))
    if ignored:
        log.info("%s: ignored %d file(s) that are not %s", where, ignored, sorted(extensions))
    return validate_manifest(pd.DataFrame(rows, columns=["item_id", "path", "label"]), where=f"{where} ({base})")


def video_folder_manifest(root: PathLike) -> pd.DataFrame:
    """``video_folder``: every video under ``root/<class>/`` labelled with ``<class>``."""
    return class_folder_manifest(root, extensions=VIDEO_EXTENSIONS, where="video_folder")


def image_folder_manifest(root: PathLike) -> pd.DataFrame:
    """``image_folder``: every still image under ``root/<class>/`` labelled with ``<class>``."""
    return class_folder_manifest(root, extensions=IMAGE_EXTENSIONS, where="image_folder")
