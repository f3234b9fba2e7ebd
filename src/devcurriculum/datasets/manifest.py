"""Input manifests (which videos, whose, at what age) and the age -> group mapping.

A manifest is a CSV or Parquet table with columns ``path, subject, age_days`` plus any optional
columns, which are kept. Every problem found is reported in ONE :class:`ManifestError` naming the
file, the rows as the file numbers them (a CSV's lines, the header being line 1; ``row N`` from 1 in
a Parquet file), in ascending order, and the offending values, so a user fixes the whole file in one
go instead of one error per run. The workflow reads the manifest once when it builds the DAG
(:func:`devcurriculum.workflow.check_manifest`), so a bad one stops it before any job is queued.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.utils.manifest_files import (
    MAX_ROWS_SHOWN,
    RowNames,
    blank_text,
    describe_rows,
    read_table_file,
    require_columns,
    row_names,
)
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.datasets.manifest")

REQUIRED_COLUMNS = ("path", "subject", "age_days")
#: ages all below this many days, with groups starting at or beyond it, look like months
MONTH_LIKE_DAYS = 40
DAYS_PER_MONTH = 30.44


class ManifestError(ValueError):
    """A manifest cannot be used; the message names the file, rows and values."""


def _read_raw(path: Path) -> pd.DataFrame:
    # Required columns read as text so that subject "007" stays "007" and a bad age is reported
    # exactly as written; optional columns keep pandas' type inference.
    return read_table_file(path, text_columns=REQUIRED_COLUMNS, error=ManifestError)


def _resolved_paths(raw_path: pd.Series, no_path: pd.Series, folder: Path) -> list[str | None]:
    """Absolute paths, relative ones resolved against the manifest's ``folder``; None where empty."""
    return [
        None if missing_path else str((folder / Path(p).expanduser()).resolve())
        for p, missing_path in zip(raw_path.fillna("").tolist(), no_path.tolist(), strict=True)
    ]


def _duplicate_paths(resolved: Sequence[str | None], names: RowNames) -> tuple[int, str] | None:
    """(first row, 'duplicate path in lines 2, 4 (/x.mp4); ...') when a resolved path repeats, else None."""
    first_row: dict[str, int] = {}
    dup_groups: dict[str, list[int]] = {}
    for i, p in enumerate(resolved):
        if p is None:
            continue
        if p in first_row:
            dup_groups.setdefault(p, [first_row[p]]).append(i)
        else:
            first_row[p] = i
    if not dup_groups:
        return None
    parts = [f"{names.noun}s {', '.join(str(names.numbers[i]) for i in rows)} ({p})"
             for p, rows in list(dup_groups.items())[:MAX_ROWS_SHOWN]]
    more = f" and {len(dup_groups) - MAX_ROWS_SHOWN} more" if len(dup_groups) > MAX_ROWS_SHOWN else ""
    return min(rows[0] for rows in dup_groups.values()), f"duplicate path in {'; '.join(parts)}{more}"


def _bad_ages(age: pd.Series) -> np.ndarray:
    """Rows whose age is not a finite number of days >= 0 (non-numeric, missing, negative, inf)."""
    values = age.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(values) & (values >= 0))


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its rows (path absolute, subject, age_days float64, extras) and their names."""

    path: Path
    rows: pd.DataFrame
    names: RowNames


def load_manifest(path: PathLike) -> Manifest:
    """Read and validate a manifest (once per version of the file in a process); see :func:`_load`.

    Building the DAG reads it twice (``workflow.check_manifest``, the video fingerprint), and resolving
    100,000 video paths takes seconds: an unchanged file (same size and mtime) is read once.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest}: file not found")
    st = manifest.stat()
    loaded = _load_cached(str(manifest), os.getcwd(), st.st_size, st.st_mtime_ns)
    return replace(loaded, rows=loaded.rows.copy())  # callers may change their rows


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, cwd: str, size: int, mtime_ns: int) -> Manifest:
    return _load(Path(path))


def _load(path: PathLike) -> Manifest:
    """Read and validate a manifest; :func:`read_manifest` with the rows' names.

    Relative video paths resolve against the manifest's folder (not the working directory), so a
    dataset folder with its manifest can be moved as a unit. ``age_days`` becomes float64, ``subject``
    a string. Raises :class:`ManifestError` for a missing file, missing columns, an empty table,
    missing paths/subjects, ages that are not numbers of days >= 0 and duplicate (resolved) paths:
    every problem in one line, each listing its rows in file order, the problems ordered by their first row.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest}: file not found")
    df = _read_raw(manifest)
    require_columns(df, REQUIRED_COLUMNS, where=f"manifest {manifest}", error=ManifestError)
    if len(df) == 0:
        raise ManifestError(f"manifest {manifest}: no data rows (an empty manifest has no videos to index)")
    df = df.reset_index(drop=True)
    names = row_names(manifest, len(df))

    problems: list[tuple[int, str]] = []  # (first row, text): listed in the order of the file
    raw_path = blank_text(df["path"])
    no_path = raw_path.isna().to_numpy()
    if no_path.any():
        problems.append((int(np.argmax(no_path)), f"empty path in {describe_rows(no_path, names=names)}"))
    raw_subject = blank_text(df["subject"])
    no_subject = raw_subject.isna().to_numpy()
    if no_subject.any():
        problems.append((int(np.argmax(no_subject)), f"empty subject in {describe_rows(no_subject, names=names)}"))
    age = pd.to_numeric(df["age_days"], errors="coerce").astype("float64")
    bad_age = _bad_ages(age)
    if bad_age.any():
        written = [None if pd.isna(v) else str(v) for v in df["age_days"].tolist()]
        problems.append((int(np.argmax(bad_age)),
                         f"age_days must be a number of days >= 0, got {describe_rows(bad_age, written, names)}"))
    resolved = _resolved_paths(raw_path, no_path, manifest.resolve().parent)
    duplicates = _duplicate_paths(resolved, names)
    if duplicates:
        problems.append(duplicates)
    if problems:
        raise ManifestError(f"manifest {manifest}: " + "; ".join(text for _, text in sorted(problems, key=lambda p: p[0])))

    out = df.copy()
    out["path"] = pd.Series(resolved, dtype="string")
    out["subject"] = raw_subject
    out["age_days"] = age
    extras = [c for c in df.columns if c not in REQUIRED_COLUMNS]
    return Manifest(manifest, out[list(REQUIRED_COLUMNS) + extras], names)


def read_manifest(path: PathLike) -> pd.DataFrame:
    """Read and validate a manifest; returns columns path (absolute), subject, age_days + extras.

    See :func:`load_manifest` for what is checked.
    """
    return load_manifest(path).rows


def age_unit_warning(
    ages: Sequence[float] | np.ndarray | pd.Series, age_groups: Mapping[str, Sequence[float]], manifest: PathLike
) -> str | None:
    """A warning when the ages look like months: every age below 40 while some group starts at 40 days or later.

    Such a manifest leaves the later groups without videos, and training stops at the first empty
    stage; the warning says so when the manifest is read, naming the unit. None when the ages look like days.
    """
    values = np.asarray(ages, dtype=np.float64)
    groups = validate_age_groups(age_groups)
    if values.size == 0 or values.max() >= MONTH_LIKE_DAYS or all(lo < MONTH_LIKE_DAYS for _, lo, _ in groups):
        return None
    empty = [name for name, lo, hi in groups if not ((values >= lo) & (values < hi)).any()]
    return (
        f"manifest {manifest}: every age_days is below {MONTH_LIKE_DAYS} (the largest is {values.max():g}) but "
        f"data.age_groups reach {max(hi for _, _, hi in groups):g} days: are these ages in months? age_days counts "
        f"days (months x {DAYS_PER_MONTH}); groups {', '.join(empty)} get no videos"
    )


def validate_age_groups(age_groups: Mapping[str, Sequence[float]]) -> list[tuple[str, float, float]]:
    """Check ``{name: [min_days, max_days)}``; returns ``[(name, lo, hi)]`` sorted by ``lo``.

    Errors name the config key (``data.age_groups.<name>``) and, for overlaps, both groups.
    """
    if not age_groups:
        raise ValueError("data.age_groups: at least one age group is required")
    groups: list[tuple[str, float, float]] = []
    for name, bounds in age_groups.items():
        key = f"data.age_groups.{name}"
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected [min_days, max_days], got {bounds!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{key}: bounds must be finite numbers, got {bounds!r}")
        if not lo < hi:
            raise ValueError(f"{key}: min_days must be < max_days, got [{lo:g}, {hi:g})")
        groups.append((str(name), lo, hi))
    groups.sort(key=lambda g: (g[1], g[2]))
    for (n1, _lo1, hi1), (n2, lo2, _hi2) in itertools.pairwise(groups):
        if lo2 < hi1:
            raise ValueError(
                f"data.age_groups: groups {n1!r} and {n2!r} overlap ({n1} ends at {hi1:g}, {n2} starts at {lo2:g}); "
                "ranges are [min_days, max_days)"
            )
    return groups


def assign_age_groups(ages: Sequence[float] | np.ndarray, age_groups: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Group name per age (object array); ``None`` where an age falls outside every group.

    Ranges are inclusive-exclusive: with g0 [0, 120) and g1 [120, 240), age 120 is in g1.
    """
    groups = validate_age_groups(age_groups)
    values = np.asarray(ages, dtype=np.float64)
    out = np.full(values.shape, None, dtype=object)
    for name, lo, hi in groups:
        out[(values >= lo) & (values < hi)] = name
    return out
