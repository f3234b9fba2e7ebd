"""The generic labelled manifest every labelled source produces, and the ``video_manifest`` /
``image_manifest`` readers.

A labelled manifest is a pandas DataFrame with exactly these columns (:data:`MANIFEST_COLUMNS`):

- ``item_id`` (string): a stable, unique id derived from the item's path relative to the dataset
  root (plus ``#frame=N`` / ``#fraction=F`` when the row names its own clip start), so adding or
  reordering rows never renames another item;
- ``path`` (string): absolute path of the video or image file;
- ``label`` (string): the class name, exactly as the source spells it;
- ``split`` (string or missing): ``train`` / ``test`` when the source defines the split;
- ``start_frame`` (Int64 or missing) / ``start_fraction`` (Float64 in [0, 1] or missing): where the
  clip starts, at most one per row;
- ``group`` (string or missing): an identity that must stay on one side of a grouped split.

Sources and adapters build such a frame and pass it through :func:`validate_manifest`, which reports
every problem in ONE :class:`LabelledDataError` naming the source, the 1-based data rows and the
offending values, so a user fixes a file in one go instead of one error per run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from devcurriculum.config import VideoManifestSource
from devcurriculum.utils.manifest_files import blank_text, describe_rows, read_table_file, require_columns
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.evalsets.labelled.manifest")

MANIFEST_COLUMNS = ("item_id", "path", "label", "split", "start_frame", "start_fraction", "group")
OPTIONAL_COLUMNS = ("split", "start_frame", "start_fraction", "group")
TRAIN = "train"
TEST = "test"
SPLITS = (TRAIN, TEST)


class LabelledDataError(ValueError):
    """A labelled source cannot be used as it is; the message names the file, rows, columns or classes."""


def item_id_for(path: PathLike, root: PathLike) -> str:
    """The item id of a file: its POSIX path relative to ``root``, or its absolute path if outside it.

    Relative paths keep ids identical when a dataset folder is moved or mounted elsewhere.
    """
    absolute = Path(path)
    try:
        return absolute.relative_to(Path(root)).as_posix()
    except ValueError:
        return absolute.as_posix()


def _start_suffix(start_frame: Any, start_fraction: Any) -> str:
    if not pd.isna(start_frame):
        return f"#frame={int(start_frame)}"
    if not pd.isna(start_fraction):
        return f"#fraction={float(start_fraction):g}"
    return ""


def validate_manifest(frame: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """Check and normalise a labelled manifest; returns a new frame with exactly :data:`MANIFEST_COLUMNS`.

    ``frame`` needs ``path`` and ``label`` (and ``item_id``; when it has none, the path is used).
    ``where`` names the source in messages (a manifest file, ``benchmarks.ucf.root``, ...).
    Collects every problem (missing columns, empty paths or labels, split values other than
    train/test, a split given for some rows only, bad start positions, a row with both starts,
    empty groups, duplicate item ids) and raises them together.
    """
    require_columns(frame, ("path", "label"), where=where, error=LabelledDataError)
    if len(frame) == 0:
        raise LabelledDataError(f"{where}: no items (the manifest has no data rows)")
    df = frame.reset_index(drop=True)
    problems: list[str] = []

    path = blank_text(df["path"])
    if path.isna().any():
        problems.append(f"empty path in {describe_rows(path.isna().to_numpy())}")
    label = blank_text(df["label"])
    if label.isna().any():
        problems.append(f"empty label in {describe_rows(label.isna().to_numpy())}")

    split = _validated_split(df, problems)
    start_frame, start_fraction = _validated_starts(df, problems)
    group = _validated_group(df, problems)

    item_id = blank_text(df["item_id"]) if "item_id" in df.columns else path
    no_id = item_id.isna() & path.notna()  # an empty path is reported once, above
    if no_id.any():
        problems.append(f"empty item_id in {describe_rows(no_id.to_numpy())}")
    suffixes = [_start_suffix(f, p) for f, p in zip(start_frame.tolist(), start_fraction.tolist(), strict=True)]
    item_id = pd.Series(
        [None if pd.isna(i) else f"{i}{s}" for i, s in zip(item_id.tolist(), suffixes, strict=True)],
        dtype="string",
    )
    duplicated = item_id.duplicated(keep=False) & item_id.notna()
    if duplicated.any():
        problems.append(
            f"duplicate item (same path and clip start) in {describe_rows(duplicated.to_numpy(), item_id.tolist())}"
        )

    if problems:
        raise LabelledDataError(f"{where}: " + "; ".join(problems))
    return pd.DataFrame(
        {
            "item_id": item_id,
            "path": path,
            "label": label,
            "split": split,
            "start_frame": start_frame,
            "start_fraction": start_fraction,
            "group": group,
        }
    )


def _validated_split(df: pd.DataFrame, problems: list[str]) -> pd.Series:
    """``split`` lower-cased; values other than train/test, or a split on some rows only, are problems."""
    if "split" not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="string")
    split = blank_text(df["split"]).str.lower()
    given = split.notna()
    bad = given & ~split.isin(SPLITS)
    if bad.any():
        problems.append(
            f"split must be 'train' or 'test', got {describe_rows(bad.to_numpy(), df['split'].tolist())}"
        )
    if given.any() and not given.all():
        problems.append(
            f"split is given for some rows but empty in {describe_rows((~given).to_numpy())} "
            "(give it for every row, or drop the column to split by label)"
        )
    return split


def _validated_starts(df: pd.DataFrame, problems: list[str]) -> tuple[pd.Series, pd.Series]:
    """``start_frame`` (int >= 0) and ``start_fraction`` (float in [0, 1]), at most one per row."""
    start_frame = pd.Series(pd.NA, index=df.index, dtype="Int64")
    start_fraction = pd.Series(pd.NA, index=df.index, dtype="Float64")
    if "start_frame" in df.columns:
        raw = df["start_frame"]
        number = pd.to_numeric(raw, errors="coerce")
        present = raw.notna() & (raw.astype("string").str.strip() != "")
        bad = present & (number.isna() | (number < 0) | (number.fillna(0) % 1 != 0))
        if bad.any():
            problems.append(
                f"start_frame must be a whole number >= 0, got {describe_rows(bad.to_numpy(), raw.tolist())}"
            )
        start_frame = number.where(present & ~bad).round().astype("Int64")
    if "start_fraction" in df.columns:
        raw = df["start_fraction"]
        number = pd.to_numeric(raw, errors="coerce")
        present = raw.notna() & (raw.astype("string").str.strip() != "")
        bad = present & (number.isna() | (number < 0) | (number > 1))
        if bad.any():
            problems.append(
                f"start_fraction must be a number in [0, 1], got {describe_rows(bad.to_numpy(), raw.tolist())}"
            )
        start_fraction = number.where(present & ~bad).astype("Float64")
    both = start_frame.notna() & start_fraction.notna()
    if both.any():
        problems.append(f"both start_frame and start_fraction given in {describe_rows(both.to_numpy())} (use one)")
    return start_frame, start_fraction


def _validated_group(df: pd.DataFrame, problems: list[str]) -> pd.Series:
    if "group" not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="string")
    group = blank_text(df["group"])
    if group.isna().any():
        problems.append(f"empty group in {describe_rows(group.isna().to_numpy())}")
    return group


def _read_table(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    """A CSV or Parquet file; in CSVs the named columns stay text (label ``"07"`` stays ``"07"``)."""
    return read_table_file(path, text_columns=text_columns, error=LabelledDataError)


def read_labelled_manifest(
    manifest: PathLike,
    *,
    label_column: str = VideoManifestSource.label_column,
    group_column: str | None = None,
) -> pd.DataFrame:
    """Read a ``video_manifest`` / ``image_manifest`` file into a validated labelled manifest.

    The file (CSV or Parquet) has ``path`` and the label column (``label_column``, default
    ``label``), and optionally ``split``, ``start_frame`` or ``start_fraction`` and the group column
    ``group_column``. Labels come from ``label_column`` only: a file without it fails naming the
    columns it has, even when another column looks like labels. Relative paths resolve against the
    manifest's folder (not the working directory), so a dataset folder moves with its manifest;
    item ids are those paths relative to that folder.
    """
    source = Path(manifest)
    where = f"manifest {source}"
    if not source.is_file():
        raise LabelledDataError(f"{where}: file not found")
    # read as text so that values are reported exactly as written ("-1", not -1.0)
    text_columns = ["path", label_column, "split", "start_frame", "start_fraction"]
    text_columns += [group_column] if group_column else []
    raw = _read_table(source, text_columns)
    df = _rename_label_and_group(raw, label_column, group_column, where)
    folder = source.resolve().parent
    paths = blank_text(df["path"]) if "path" in df.columns else None
    if paths is not None:
        absolute = [None if pd.isna(p) else str((folder / Path(p).expanduser()).resolve()) for p in paths.tolist()]
        df = df.assign(
            path=pd.Series(absolute, dtype="string"),
            item_id=pd.Series([None if a is None else item_id_for(a, folder) for a in absolute], dtype="string"),
        )
    return validate_manifest(df, where=where)


def _rename_label_and_group(
    raw: pd.DataFrame, label_column: str, group_column: str | None, where: str
) -> pd.DataFrame:
    """Map the configured label/group columns onto ``label``/``group``; never guess another column."""
    found = [str(c) for c in raw.columns]
    required = ["path", label_column]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        hint = "" if label_column in raw.columns else f" (labels are read from column {label_column!r} only)"
        raise LabelledDataError(f"{where}: missing required column(s) {missing}; found {found}{hint}")
    if group_column is not None and group_column not in raw.columns:
        raise LabelledDataError(f"{where}: group column {group_column!r} not found; found {found}")
    renames = {label_column: "label"}
    if group_column is not None:
        renames[group_column] = "group"
    for source_name, target in renames.items():
        if source_name != target and target in raw.columns:
            raise LabelledDataError(
                f"{where}: column {source_name!r} is configured as the {target} column but the file also has a "
                f"column named {target!r}; rename one of them"
            )
    unused_group = "group" in raw.columns and group_column is None
    if unused_group:
        log.info("%s: column 'group' is present but no group column is configured; it is not used", where)
        raw = raw.drop(columns=["group"])
    return raw.rename(columns=renames)
