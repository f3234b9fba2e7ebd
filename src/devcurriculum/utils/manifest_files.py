"""A user's manifest file (CSV or Parquet) as a DataFrame, and the row-level checks every manifest shares.

A file pandas would misread is an error naming it; the checks (required columns, blank cells, the rows
named in a message) are shared by the video manifest (``datasets.manifest``) and the labelled one
(``evalsets.labelled.manifest``).

Rows are named as the file numbers them (:class:`RowNames`): a CSV row by its line in the file (the
header is line 1, so the first data row is line 2; blank lines count, as an editor counts them), a
Parquet row as ``row N`` from 1. Without a :class:`RowNames`, :func:`describe_rows` says ``row N`` for
the N-th data row.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devcurriculum.utils.paths import PathLike

#: rows listed per problem in an error message; the rest are counted
MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class RowNames:
    """How messages name a table's data rows: ``noun`` (``line`` / ``row``) and each row's number."""

    noun: str
    numbers: tuple[int, ...]

    @classmethod
    def rows(cls, n: int) -> RowNames:
        """``row 1`` .. ``row n``: a Parquet file's rows, or rows of unknown origin."""
        return cls("row", tuple(range(1, n + 1)))

    def name(self, position: int) -> str:
        """``line 4`` for the data row at 0-based ``position``."""
        return f"{self.noun} {self.numbers[position]}"


def describe_rows(
    mask: np.ndarray | Sequence[bool], values: Sequence[object] | None = None, names: RowNames | None = None
) -> str:
    """``'lines 2, 5 ('x', 'y')'`` for the True positions of ``mask``, in file order, truncated.

    ``names`` numbers the rows as the file does (:func:`row_names`); without it, ``row N`` is the N-th data row.
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    noun = names.noun if names is not None else "row"
    numbers = names.numbers if names is not None else tuple(range(1, len(np.asarray(mask)) + 1))
    shown = positions[:MAX_ROWS_SHOWN]
    if values is None:
        listed = ", ".join(str(numbers[i]) for i in shown)
    else:
        listed = ", ".join(f"{numbers[i]} ({values[i]!r})" for i in shown)
    more = f" and {len(positions) - len(shown)} more" if len(positions) > len(shown) else ""
    return f"{noun}{'s' if len(positions) > 1 else ''} {listed}{more}"


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
    (and the rows, by their line in the file).
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


def _csv_rows(path: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header and every data row with the line it starts on, as pandas reads them.

    pandas skips blank lines and lines of blanks only (``skip_blank_lines``); a quoted value may span
    lines, so a row's number is the line it starts on, which is what an editor shows.
    """
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        line = 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header is None:
                header = fields
            else:
                rows.append((start, fields))
    return header, rows


def row_names(path: PathLike, n_rows: int) -> RowNames:
    """How to name the ``n_rows`` data rows of a manifest file: its lines for a CSV, ``row N`` otherwise.

    Falls back to ``row N`` (the N-th data row) if the CSV's rows cannot be matched with what pandas read.
    """
    p = Path(path)
    if p.suffix.lower() in {".csv", ".txt"}:
        _, rows = _csv_rows(p)
        if len(rows) == n_rows:
            return RowNames("line", tuple(start for start, _ in rows))
    return RowNames.rows(n_rows)


def _csv_width(path: Path, max_shown: int = 10) -> tuple[int, str | None]:
    """The header's field count, and 'line 2 (4 fields) has more fields than the header's 3 ...' or None.

    Empty trailing fields (``a,b,c,`` from a spreadsheet export) carry nothing and are allowed.
    """
    header, rows = _csv_rows(path)
    if header is None:
        return 0, None
    overlong = [(line, len(r)) for line, r in rows if len(r) > len(header) and any(v.strip() for v in r[len(header):])]
    if not overlong:
        return len(header), None
    shown = ", ".join(f"{i} ({n} fields)" for i, n in overlong[:max_shown])
    more = f" and {len(overlong) - max_shown} more" if len(overlong) > max_shown else ""
    plural = "s" if len(overlong) > 1 else ""
    return len(header), (
        f"line{plural} {shown}{more} ha{'ve' if plural else 's'} more fields than the header's {len(header)} "
        f"({', '.join(header)}); quote values that contain commas, or add the column to the header"
    )
