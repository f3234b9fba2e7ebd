"""Manifest faults (issue 13, item 7): a row with an extra field is rejected naming its line instead of
shifting every column; a video fixed in place changes the fingerprint that re-runs index_videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devcurriculum.datasets.manifest import ManifestError, read_manifest
from devcurriculum.datasets.video_index import video_fingerprint


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_an_extra_field_in_the_first_row_is_rejected_not_shifted(tmp_path: Path) -> None:
    # pandas alone takes `path` as the index here: path=s1, subject=30, age_days=31, all plausible
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,30,31\nb.mp4,s2,40\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert str(err.value) == (
        f"manifest {m}: line 2 (4 fields) has more fields than the header's 3 (path, subject, age_days); "
        "quote values that contain commas, or add the column to the header"
    )


def test_every_overlong_row_is_named_in_one_error(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,30\n\nb.mp4,s2,40,x\nc.mp4,s3,50,y,z\n")
    with pytest.raises(ManifestError, match=r"lines 4 \(4 fields\), 5 \(5 fields\) have more fields"):  # line 3 is blank
        read_manifest(m)


def test_quoted_commas_and_empty_trailing_fields_are_fine(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", 'path,subject,age_days,note\n"a,1.mp4",s1,30,"x, y"\nb.mp4,s2,40,,\n')
    df = read_manifest(m)
    assert df["path"].tolist() == [str(tmp_path / "a,1.mp4"), str(tmp_path / "b.mp4")]
    assert df["subject"].tolist() == ["s1", "s2"] and df["age_days"].tolist() == [30.0, 40.0]
    assert df["note"].tolist()[0] == "x, y"


def test_fingerprint_changes_when_a_video_is_fixed_in_place(tmp_path: Path) -> None:
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"broken")
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,30\nb.mp4,s2,40\n")
    before = video_fingerprint(m)
    assert video_fingerprint(m) == before and len(before) == 16  # stable while nothing changes
    (tmp_path / "b.mp4").write_bytes(b"a repaired video")  # same path, new content
    fixed = video_fingerprint(m)
    assert fixed != before
    st = (tmp_path / "b.mp4").stat()
    os.utime(tmp_path / "b.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same size, newer
    assert video_fingerprint(m) != fixed
    (tmp_path / "a.mp4").unlink()
    assert video_fingerprint(m) not in (before, fixed)  # a missing video counts too


def test_fingerprint_of_an_unreadable_manifest_leaves_the_error_to_the_rule(tmp_path: Path) -> None:
    assert video_fingerprint(tmp_path / "missing.csv") == "unreadable-manifest"
    bad = write(tmp_path / "bad.csv", "path,subject\na.mp4,s1\n")
    assert video_fingerprint(bad) == "unreadable-manifest"
