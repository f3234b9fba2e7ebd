"""Stage ``index_videos``: probe every manifest video once and write ``videos.parquet``.

Unusable files (missing, empty, corrupt, truncated, zero frames, not a video) become rows with
``status=error`` and a reason; the stage still succeeds, so one bad file in ten thousand does not stop
a study. A manifest of which no video can be used stops it, naming how many failed and why, and which
(all wrong paths would otherwise fail at pretrain as "stage 0 has an empty pool"). Ages outside every
group stay in the table with ``age_group`` null (downstream stages ignore them); a group left without
a usable video, and ages that look like months, are warned about.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from devcurriculum.datasets.decode import VideoDecodeError, probe_video
from devcurriculum.datasets.manifest import (
    ManifestError,
    age_unit_warning,
    assign_age_groups,
    load_manifest,
    read_manifest,
    validate_age_groups,
)
from devcurriculum.datasets.video_paths import manifest_folder, relative_to
from devcurriculum.utils.io import provenance, table_from_columns, write_table
from devcurriculum.utils.manifest_files import MAX_ROWS_SHOWN, RowNames
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import progress_bar

log = logging.getLogger("devcurriculum.datasets.video_index")

STATUS_OK = "ok"
STATUS_ERROR = "error"

VIDEO_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("age_days", pa.float64(), nullable=False),
        pa.field("age_group", pa.string()),
        pa.field("fps", pa.float64()),
        pa.field("n_frames", pa.int64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("duration_s", pa.float64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
    ]
)
RESERVED = frozenset(VIDEO_SCHEMA.names)
EXTRA_PREFIX = "manifest_"


def video_id_for(path: str) -> str:
    """Stable id of a video: the first 16 hex digits of SHA-1 of its absolute (resolved) path.

    It depends on the path only, not on the manifest's row order, so adding or reordering
    manifest rows keeps every other video's id (and its clip ids, ``{video_id}:{start}``).
    """
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


def video_fingerprint(manifest: PathLike) -> str:
    """A short hash of (path, size, mtime) of every video a manifest lists; it changes when one changes.

    A video inside the manifest's folder counts by its path from there, so moving the project (with
    ``cp -a``, ``rsync -a`` or ``mv``, which keep mtimes) changes nothing.

    Snakemake sees only the manifest as ``index_videos``' input, so a video fixed or replaced in place
    (same path) would never be re-indexed. Given as a params value of the rule, this fingerprint
    re-runs it. It costs one ``stat`` per video when the DAG is built (about 10 ms per 1000 local
    files, benchmarks/checksum_overhead.py). A manifest that cannot be read gives a fixed value: the
    rule itself then reports the problem, naming the rows.
    """
    try:
        paths = read_manifest(manifest)["path"].tolist()
    except (ManifestError, OSError):
        return "unreadable-manifest"
    folder = manifest_folder(manifest)
    digest = hashlib.sha256()
    for path in paths:
        # a video next to the manifest by its path from there: moving the project is no change
        name = relative_to(path, folder) or path
        try:
            st = os.stat(path)
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{name}\0missing\n".encode())
    return digest.hexdigest()[:16]


def _extra_columns(manifest: pd.DataFrame) -> dict[str, str]:
    """Manifest column -> output column for the optional columns (renamed if they clash)."""
    mapping: dict[str, str] = {}
    for col in manifest.columns:
        if col in ("path", "subject", "age_days"):
            continue
        out = f"{EXTRA_PREFIX}{col}" if col in RESERVED else str(col)
        if out in RESERVED or out in mapping.values() or (out != col and out in manifest.columns):
            raise ValueError(f"manifest column {col!r} clashes with index column {out!r}; rename it in the manifest")
        mapping[str(col)] = out
    renamed = {k: v for k, v in mapping.items() if k != v}
    if renamed:
        log.info("manifest columns renamed to avoid clashing with probed values: %s", renamed)
    return mapping


def _probe_all(paths: Sequence[str], names: RowNames) -> tuple[dict[str, list[Any]], Counter[str], list[str]]:
    """Probed columns of every video (errors as rows), the count of each error kind, each row's error kind."""
    columns: dict[str, list[Any]] = {name: [] for name in VIDEO_SCHEMA.names}
    reasons: Counter[str] = Counter()
    kinds: list[str] = []
    for row, path in enumerate(progress_bar(paths, desc="index videos", unit="video")):
        columns["video_id"].append(video_id_for(path))
        columns["path"].append(path)
        try:
            info = probe_video(path)
        except VideoDecodeError as exc:
            reason = str(exc)
            log.warning("manifest %s: %s: %s (recorded as error, skipped downstream)", names.name(row), path, reason)
            reasons[exc.kind] += 1
            kinds.append(exc.kind)
            for name in ("fps", "n_frames", "width", "height", "duration_s"):
                columns[name].append(None)
            columns["status"].append(STATUS_ERROR)
            columns["error"].append(reason)
            continue
        columns["fps"].append(info.fps)
        columns["n_frames"].append(info.n_frames)
        columns["width"].append(info.width)
        columns["height"].append(info.height)
        columns["duration_s"].append(info.duration_s)
        columns["status"].append(STATUS_OK)
        columns["error"].append(None)
        kinds.append(STATUS_OK)
    return columns, reasons, kinds


def _nothing_usable(manifest: PathLike, paths: Sequence[str], kinds: Sequence[str], names: RowNames) -> ManifestError:
    """'none of its 8 videos can be used: 6 not found (line 4 (/x.mp4), ... and 3 more); 2 unopenable (...)'."""
    by_kind: dict[str, list[int]] = {}
    for row, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(row)
    shown = 3
    parts = []
    for kind, rows in sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0])):
        listed = ", ".join(f"{names.name(r)} ({paths[r]})" for r in rows[:shown])
        more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
        parts.append(f"{len(rows)} {kind.replace('missing', 'not found').replace('_', ' ')} ({listed}{more})")
    folder = Path(manifest).resolve().parent
    return ManifestError(
        f"manifest {manifest}: none of its {len(paths)} videos can be used: {'; '.join(parts[:MAX_ROWS_SHOWN])} "
        f"(relative paths resolve against the manifest's folder {folder})"
    )


def index_videos(
    *, manifest: PathLike, out_path: PathLike, age_groups: Mapping[str, tuple[float, float]]
) -> dict[str, Any]:
    """Probe every video of the manifest and write the video table to ``out_path``.

    Returns a summary: ``videos``, ``ok``, ``errors``, ``error_reasons`` (kind -> count, see ``VideoDecodeError``),
    ``outside_groups`` (ages outside every group), ``ok_per_group`` (usable videos per group).
    The summary is also stored in the table's metadata (``devcurriculum.summary``).
    """
    validate_age_groups(age_groups)  # fail on a bad config before minutes of probing
    loaded = load_manifest(manifest)
    rows = loaded.rows
    extras = _extra_columns(rows)
    groups = assign_age_groups(rows["age_days"].to_numpy(), age_groups)
    months = age_unit_warning(rows["age_days"], age_groups, manifest)
    if months:
        log.warning("%s", months)

    paths = rows["path"].tolist()
    columns, reasons, kinds = _probe_all(paths, loaded.names)
    if STATUS_OK not in kinds:
        raise _nothing_usable(manifest, paths, kinds, loaded.names)
    columns["subject"] = rows["subject"].tolist()
    columns["age_days"] = rows["age_days"].tolist()
    columns["age_group"] = list(groups)

    table = table_from_columns(columns, VIDEO_SCHEMA)
    if extras:
        extra_df = rows[list(extras)].rename(columns=extras).reset_index(drop=True)
        extra_table = pa.Table.from_pandas(extra_df, preserve_index=False)
        for field, column in zip(extra_table.schema, extra_table.columns, strict=True):
            table = table.append_column(pa.field(field.name, field.type), column)

    status = columns["status"]
    n_ok = status.count(STATUS_OK)
    outside = sum(g is None for g in groups)
    per_group = Counter(g for g, s in zip(groups, status, strict=True) if g is not None and s == STATUS_OK)
    summary: dict[str, Any] = {
        "videos": len(paths),
        "ok": n_ok,
        "errors": len(paths) - n_ok,
        "error_reasons": dict(reasons),
        "outside_groups": outside,
        "ok_per_group": {name: per_group.get(name, 0) for name in age_groups},
    }
    meta = provenance("index_videos", {"age_groups": dict(age_groups)}, manifest=str(manifest),
                      manifest_dir=manifest_folder(manifest), summary=summary)
    write_table(table, out_path, metadata=meta)

    log.info("indexed %d videos: %d ok, %d errors -> %s", len(paths), n_ok, len(paths) - n_ok, out_path)
    if reasons:
        log.warning("skipped %d unusable files: %s", len(paths) - n_ok, dict(reasons))
    if outside:
        log.warning(
            "%d of %d videos have an age outside every group (kept with age_group null, not used downstream)",
            outside,
            len(paths),
        )
    log.info("usable videos per group: %s", summary["ok_per_group"])
    empty = [f"{name} [{lo:g}, {hi:g})" for name, lo, hi in validate_age_groups(age_groups) if not per_group.get(name)]
    if empty:
        log.warning(
            "age group%s %s ha%s no usable video: a curriculum stage over one of them would have an empty pool",
            "s" if len(empty) > 1 else "", ", ".join(empty), "ve" if len(empty) > 1 else "s",
        )
    return summary
