"""Video paths that survive a moved project: the chunk plans name videos next to the manifest relative
to where the manifest is now.

``videos.parquet`` lists every video by its absolute path (``read_manifest`` resolves relative paths
against the manifest's folder) and records that folder (``devcurriculum.manifest_dir``). The chunk
plans, which are the ``chunk_clips`` / ``chunk_pairs`` params and whose paths are those jobs' input
files, would carry those absolute paths: moving or renaming the project would change every shard's
params (Snakemake reruns them all) or, once the old folder is gone, point at missing files. So a video
under the recorded manifest folder is named under the manifest's folder as the config gives it now
(``results/demo/videos/a.mp4`` for the demo); videos elsewhere (a data set outside the project) keep
their absolute paths. A table written before the folder was recorded keeps its paths as they are.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from devcurriculum.utils.io import read_metadata
from devcurriculum.utils.paths import PathLike

#: the schema metadata key of videos.parquet that records the manifest's folder (absolute, resolved)
MANIFEST_DIR_KEY = "devcurriculum.manifest_dir"


def manifest_folder(manifest: PathLike) -> str:
    """The folder relative video paths of ``manifest`` resolve against (what videos.parquet records)."""
    return os.path.dirname(os.path.realpath(manifest))


def recorded_manifest_dir(videos_parquet: PathLike) -> str | None:
    """The manifest folder ``videos.parquet`` was indexed from, or None for a table without it."""
    return read_metadata(videos_parquet).get(MANIFEST_DIR_KEY)


def relative_to(path: str, folder: str) -> str | None:
    """``path`` below ``folder`` (posix), or None when it is not inside it."""
    folder = folder.rstrip("/")
    return path[len(folder) + 1:] if path.startswith(folder + "/") else None


def rebase_video_paths(
    videos: Iterable[Mapping[str, Any]], recorded_dir: str | None, current_dir: str
) -> list[dict[str, Any]]:
    """``videos`` (rows with a ``path``) with every path under ``recorded_dir`` moved under ``current_dir``.

    ``current_dir`` is the manifest's folder as the config names it now (relative to the working
    directory for the demo and for a manifest inside the project). Nothing changes without a
    ``recorded_dir``.
    """
    rows = [dict(v) for v in videos]
    if not recorded_dir:
        return rows
    for row in rows:
        below = relative_to(row["path"], recorded_dir)
        if below is not None:
            row["path"] = posixpath.normpath(posixpath.join(current_dir, below)) if current_dir else below
    return rows
