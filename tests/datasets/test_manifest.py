"""Manifest reading/validation and age-group assignment (devcurriculum.datasets.manifest)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devcurriculum.datasets.manifest import ManifestError, assign_age_groups, read_manifest, validate_age_groups

GROUPS = {"g0": [0, 120], "g1": [120, 240], "g2": [240, 400]}


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def test_reads_csv_resolves_relative_paths_and_keeps_extra_columns(tmp_path: Path) -> None:
    sub = tmp_path / "data"
    sub.mkdir()
    absolute = tmp_path / "elsewhere" / "c.mp4"
    m = write_csv(
        sub / "manifest.csv",
        f"path,subject,age_days,camera\nvideos/a.mp4,007,30,head\n../b.mp4,S2,120.5,chest\n{absolute},S3,0,head",
    )
    df = read_manifest(m)
    assert list(df.columns) == ["path", "subject", "age_days", "camera"]
    assert df["path"].tolist() == [
        str((sub / "videos/a.mp4").resolve()),
        str((tmp_path / "b.mp4").resolve()),
        str(absolute.resolve()),
    ]
    assert df["subject"].tolist() == ["007", "S2", "S3"]  # leading zeros survive
    assert df["age_days"].dtype == np.float64
    assert df["age_days"].tolist() == [30.0, 120.5, 0.0]
    assert df["camera"].tolist() == ["head", "chest", "head"]


def test_reads_parquet_the_same_way(tmp_path: Path) -> None:
    m = tmp_path / "m.parquet"
    pd.DataFrame(
        {"path": ["a.mp4", "b.mp4"], "subject": ["s1", "s2"], "age_days": [10, 300], "x": [1.5, 2.5]}
    ).to_parquet(m)
    df = read_manifest(m)
    assert df["path"].tolist() == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]
    assert df["age_days"].tolist() == [10.0, 300.0]
    assert df["x"].tolist() == [1.5, 2.5]


def test_one_error_names_file_rows_and_values_of_every_problem(tmp_path: Path) -> None:
    m = write_csv(
        tmp_path / "bad.csv",
        "path,subject,age_days\n"  # line 1: the header
        "a.mp4,s1,10\n"  # line 2 fine
        "b.mp4,s1,ten\n"  # line 3 non-numeric
        "c.mp4,s2,-5\n"  # line 4 negative
        "./a.mp4,s3,20\n"  # line 5 duplicate of line 2 after resolution
        "d.mp4,s4,\n",  # line 6 missing age
    )
    with pytest.raises(ManifestError) as info:
        read_manifest(m)
    msg = str(info.value)
    assert msg.startswith(f"manifest {m}: duplicate path in lines 2, 5 (")  # problems in the order of their first line
    assert msg.endswith("; age_days must be a number of days >= 0, got lines 3 ('ten'), 4 ('-5'), 6 (None)")
    assert re.search(r"duplicate path in lines 2, 5 \(.*a\.mp4\)", msg)
    assert msg.count("\n") == 0  # one message, one line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path,subject\na.mp4,s1", r"missing required column\(s\) \['age_days'\]"),
        ("path,subject,age_days", "no data rows"),
        ("", r"missing required column\(s\) \['path', 'subject', 'age_days'\]"),
        ("path,subject,age_days\n,s1,3\nb.mp4,,4", r"empty path in line 2; empty subject in line 3"),
    ],
)
def test_structural_errors(tmp_path: Path, text: str, expected: str) -> None:
    m = tmp_path / "m.csv"
    m.write_text(text)
    with pytest.raises(ManifestError, match=expected):
        read_manifest(m)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(ManifestError, match="unsupported file type '.xlsx'"):
        read_manifest(tmp_path / "m.xlsx")


def test_many_bad_rows_are_listed_then_counted(tmp_path: Path) -> None:
    lines = ["path,subject,age_days"] + [f"v{i}.mp4,s,x{i}" for i in range(15)]
    m = write_csv(tmp_path / "m.csv", "\n".join(lines))
    with pytest.raises(ManifestError, match=r"lines 2 \('x0'\), .*11 \('x9'\) and 5 more"):
        read_manifest(m)


def test_assign_age_groups_is_inclusive_exclusive() -> None:
    ages = np.array([0, 119.9, 120, 239, 240, 399.99, 400, 1000])
    got = assign_age_groups(ages, GROUPS)
    assert got.tolist() == ["g0", "g0", "g1", "g1", "g2", "g2", None, None]
    assert got.dtype == object


def test_assign_age_groups_with_gaps() -> None:
    got = assign_age_groups([5, 50, 150], {"young": [0, 10], "old": [100, 200]})
    assert got.tolist() == ["young", None, "old"]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ({"g0": [0, 120], "g1": [100, 240]}, r"groups 'g0' and 'g1' overlap"),
        ({"a": [50, 60], "b": [0, 51]}, r"groups 'b' and 'a' overlap"),
        ({"g0": [10, 10]}, r"data\.age_groups\.g0: min_days must be < max_days, got \[10, 10\)"),
        ({"g0": [20, 10]}, r"data\.age_groups\.g0: min_days must be < max_days"),
        ({"g0": ["a", 10]}, r"data\.age_groups\.g0: expected \[min_days, max_days\]"),
        ({}, "at least one age group"),
    ],
)
def test_invalid_age_groups_name_the_group(groups: dict, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        assign_age_groups([1.0], groups)


def test_adjacent_groups_are_valid() -> None:
    assert [g[0] for g in validate_age_groups({"b": [120, 240], "a": [0, 120]})] == ["a", "b"]
