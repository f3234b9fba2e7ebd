"""A user's manifest file (CSV or Parquet) as a DataFrame, and the row-level checks every manifest shares.

A file pandas would misread is an error naming it; the checks (required columns, blank cells, the rows
named in a message) are shared by the video manifest (``datasets.manifest``) and the labelled one
(``evalsets.labelled.manifest``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from devcurriculum.utils.paths import PathLike

#: rows listed per problem in an error message; the rest are counted
MAX_ROWS_SHOWN = 10


def describe_rows(mask: np.ndarray | Sequence[bool], values: Sequence[object] | None = None) -> str:
    """``'rows 2, 5 ('x', 'y')'`` for the True positions of ``mask`` (1-based data rows), truncated."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    shown = positions[:MAX_ROWS_SHOWN]
    if values is None:
        listed = ", ".join(str(i + 1) for i in shown)
    else:
        listed = ", ".join(f"{i + 1} ({values[i]!r})" for i in shown)
    more = f" and {len(positions) - len(shown)} more" if len(positions) > len(shown) else ""
    return f"row{'s' if len(positions) > 1 else ''} {listed}{more}"


def blank_text(series: Any) -> Any:
    """A column as strings stripped of surrounding blanks, empty strings missing (a pandas ``string`` Series)."""
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def require_columns(frame: Any, required: Sequence[str], *, where: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``where``, the missing columns and the ones found, unless ``frame`` has ``required``."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise error(f"{where}: missing required column(s) {missing}; found {[str(c) for c in frame.columns]}")


def read_table_file(path: PathLike, *, text_columns: Sequence[str] = (), error: type[Exception] = ValueError) -> Any:
    """A CSV or Parquet file as a DataFrame (empty when the file is); ``text_columns`` stay text in CSVs.

    Reading labels and ids as text keeps ``"007"`` as written; a bad value is then reported as written.
    An unreadable file, a CSV row with more fields than the header (pandas would shift every column
    of the file by one, or drop the extra values) or another suffix raises ``error`` naming the file
    (and the rows: row 1 = the first row after the header).
    """
    import pandas as pd

    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(p, page_checksum_verification=True)
        if suffix in {".csv", ".txt"}:
            width, overlong = _csv_width(p)
            if overlong:
                raise error(f"manifest {p}: {overlong}")
            # index_col=False: never take the first column as the index (the silent shift); usecols:
            # the header's columns only (what lies beyond them was checked above to be empty)
            return pd.read_csv(p, dtype={c: "string" for c in text_columns}, skipinitialspace=True,
                               index_col=False, usecols=range(width) if width else None)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except error:
        raise
    except (OSError, ValueError) as exc:
        raise error(f"manifest {p}: cannot be read ({exc})") from exc
    raise error(f"manifest {p}: unsupported file type {suffix!r} (use .csv or .parquet)")


def _csv_width(path: Path, max_shown: int = 10) -> tuple[int, str | None]:
    """The header's field count, and 'row 1 (4 fields) has more fields than the header's 3 ...' or None.

    Empty trailing fields (``a,b,c,`` from a spreadsheet export) carry nothing and are allowed.
    Blank lines are skipped as pandas skips them, so row numbers match the manifest errors'.
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = (r for r in csv.reader(fh) if r)
        header = next(rows, None)
        if header is None:
            return 0, None
        overlong = [(i, len(r)) for i, r in enumerate(rows, start=1)
                    if len(r) > len(header) and any(v.strip() for v in r[len(header):])]
    if not overlong:
        return len(header), None
    shown = ", ".join(f"{i} ({n} fields)" for i, n in overlong[:max_shown])
    more = f" and {len(overlong) - max_shown} more" if len(overlong) > max_shown else ""
    plural = "s" if len(overlong) > 1 else ""
    return len(header), (
        f"row{plural} {shown}{more} ha{'ve' if plural else 's'} more fields than the header's {len(header)} "
        f"({', '.join(header)}); quote values that contain commas, or add the column to the header"
    )
