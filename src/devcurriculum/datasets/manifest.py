"""Input manifests (which videos, whose, at what age) and the age -> group mapping.

A manifest is a CSV or Parquet table with columns ``path, subject, age_days`` plus any optional
columns, which are kept. Every problem found is reported in ONE :class:`ManifestError` naming the
file, the 1-based data rows (row 1 = the first row after the CSV header) and the offending values,
so a user fixes the whole file in one go instead of one error per run.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.utils.manifest_files import (
    MAX_ROWS_SHOWN,
    blank_text,
    describe_rows,
    read_table_file,
    require_columns,
)
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.datasets.manifest")

REQUIRED_COLUMNS = ("path", "subject", "age_days")


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


def _duplicate_paths(resolved: Sequence[str | None]) -> str | None:
    """'duplicate path in rows 1, 3 (/x.mp4); ...' when a resolved path repeats, else None."""
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
    parts = [f"rows {', '.join(str(i + 1) for i in rows)} ({p})" for p, rows in list(dup_groups.items())[:MAX_ROWS_SHOWN]]
    more = f" and {len(dup_groups) - MAX_ROWS_SHOWN} more" if len(dup_groups) > MAX_ROWS_SHOWN else ""
    return f"duplicate path in {'; '.join(parts)}{more}"


def _age_problems(raw_age: pd.Series, age: pd.Series) -> list[str]:
    """Non-numeric and negative ages, with the rows and the values as written."""
    problems = []
    age_values = [None if pd.isna(v) else str(v) for v in raw_age.tolist()]
    bad_age = (age.isna() | ~np.isfinite(age.fillna(0.0))).to_numpy()
    if bad_age.any():
        problems.append(f"non-numeric age_days in {describe_rows(bad_age, age_values)}")
    negative = (~bad_age) & (age.fillna(0.0).to_numpy() < 0)
    if negative.any():
        problems.append(f"negative age_days in {describe_rows(negative, age_values)}")
    return problems


def read_manifest(path: PathLike) -> pd.DataFrame:
    """Read and validate a manifest; returns columns path (absolute), subject, age_days + extras.

    Relative video paths resolve against the manifest's folder (not the working directory), so a
    dataset folder with its manifest can be moved as a unit. ``age_days`` becomes float64, ``subject``
    a string. Raises :class:`ManifestError` for a missing file, missing columns, an empty table,
    missing paths/subjects, non-numeric or negative ages and duplicate (resolved) paths.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise ManifestError(f"manifest {manifest}: file not found")
    df = _read_raw(manifest)
    require_columns(df, REQUIRED_COLUMNS, where=f"manifest {manifest}", error=ManifestError)
    if len(df) == 0:
        raise ManifestError(f"manifest {manifest}: no data rows (an empty manifest has no videos to index)")
    df = df.reset_index(drop=True)

    problems: list[str] = []
    raw_path = blank_text(df["path"])
    no_path = raw_path.isna()
    if no_path.any():
        problems.append(f"empty path in {describe_rows(no_path.to_numpy())}")
    raw_subject = blank_text(df["subject"])
    no_subject = raw_subject.isna()
    if no_subject.any():
        problems.append(f"empty subject in {describe_rows(no_subject.to_numpy())}")
    age = pd.to_numeric(df["age_days"], errors="coerce").astype("float64")
    problems += _age_problems(df["age_days"], age)
    resolved = _resolved_paths(raw_path, no_path, manifest.resolve().parent)
    duplicates = _duplicate_paths(resolved)
    if duplicates:
        problems.append(duplicates)
    if problems:
        raise ManifestError(f"manifest {manifest}: " + "; ".join(problems))

    out = df.copy()
    out["path"] = pd.Series(resolved, dtype="string")
    out["subject"] = raw_subject
    out["age_days"] = age
    extras = [c for c in df.columns if c not in REQUIRED_COLUMNS]
    return out[list(REQUIRED_COLUMNS) + extras]


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
