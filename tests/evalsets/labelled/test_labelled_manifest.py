"""The video_manifest / image_manifest reader and the generic manifest validation."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from devcurriculum.evalsets.labelled.manifest import (
    MANIFEST_COLUMNS,
    LabelledDataError,
    read_labelled_manifest,
    validate_manifest,
)


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path: Path, monkeypatch) -> None:
    manifest = _csv(
        tmp_path / "data" / "bench.csv",
        "path,label,split\nclips/a.mp4,07,train\nclips/b.mp4, cat ,TEST\n/elsewhere/c.mp4,cat,train\n",
    )
    monkeypatch.chdir(tmp_path)  # not the manifest's folder
    df = read_labelled_manifest(manifest)
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    folder = (tmp_path / "data").resolve()
    assert df["path"].tolist() == [str(folder / "clips/a.mp4"), str(folder / "clips/b.mp4"), "/elsewhere/c.mp4"]
    # item ids: relative to the manifest folder (stable when the folder moves), absolute outside it
    assert df["item_id"].tolist() == ["clips/a.mp4", "clips/b.mp4", "/elsewhere/c.mp4"]
    assert df["label"].tolist() == ["07", "cat", "cat"]  # text kept as written ("07" not 7), blanks stripped
    assert df["split"].tolist() == ["train", "test", "train"]  # case normalised


def test_parquet_manifest_with_starts_and_group_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "path": ["a.mp4", "a.mp4", "b.mp4"],
            "label": ["x", "x", "y"],
            "start_frame": [0, 30, None],
            "start_fraction": [None, None, 0.5],
            "object": ["o1", "o1", "o2"],
        }
    )
    frame.to_parquet(tmp_path / "m.parquet")
    df = read_labelled_manifest(tmp_path / "m.parquet", group_column="object")
    # the same video twice with different starts: two items with distinct, stable ids
    assert df["item_id"].tolist() == ["a.mp4#frame=0", "a.mp4#frame=30", "b.mp4#fraction=0.5"]
    assert df["start_frame"].tolist()[:2] == [0, 30] and pd.isna(df["start_frame"][2])
    assert df["start_fraction"][2] == 0.5
    assert df["group"].tolist() == ["o1", "o1", "o2"]
    assert df["split"].isna().all()


def test_missing_label_column_fails_naming_the_columns_it_has(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,class,subject\na.mp4,cat,s1\n")
    with pytest.raises(LabelledDataError) as err:
        read_labelled_manifest(manifest)
    message = str(err.value)
    assert "missing required column(s) ['label']" in message
    assert "['path', 'class', 'subject']" in message  # the columns it has; 'class' is NOT taken as labels
    assert str(manifest) in message


def test_label_column_can_be_named_explicitly(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,class\na.mp4,cat\nb.mp4,dog\n")
    assert read_labelled_manifest(manifest, label_column="class")["label"].tolist() == ["cat", "dog"]
    clash = _csv(tmp_path / "clash.csv", "path,class,label\na.mp4,cat,x\n")
    with pytest.raises(LabelledDataError, match="also has a column named 'label'"):
        read_labelled_manifest(clash, label_column="class")


def test_a_group_column_is_used_only_when_configured(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,label,group\na.mp4,cat,g1\n")
    assert read_labelled_manifest(manifest)["group"].isna().all()
    with pytest.raises(LabelledDataError, match="group column 'object' not found"):
        read_labelled_manifest(manifest, group_column="object")


def test_every_row_problem_is_reported_in_one_message(tmp_path: Path) -> None:
    manifest = _csv(
        tmp_path / "m.csv",
        "path,label,split,start_frame,start_fraction\n"
        "a.mp4,cat,train,,\n"  # row 1 fine
        ",cat,train,,\n"  # row 2: empty path
        "c.mp4,,test,,\n"  # row 3: empty label
        "d.mp4,dog,validation,,\n"  # row 4: bad split
        "e.mp4,dog,test,-1,\n"  # row 5: negative start
        "f.mp4,dog,test,2.5,\n"  # row 6: fractional start frame
        "g.mp4,dog,test,,1.5\n"  # row 7: fraction out of range
        "h.mp4,dog,test,3,0.5\n"  # row 8: both starts
        "a.mp4,cat,test,,\n",  # row 9: duplicate of row 1
    )
    with pytest.raises(LabelledDataError) as err:
        read_labelled_manifest(manifest)
    message = str(err.value)
    assert "empty path in row 2" in message
    assert "empty label in row 3" in message
    assert "split must be 'train' or 'test', got row 4 ('validation')" in message
    assert "start_frame must be a whole number >= 0, got rows 5 ('-1'), 6 ('2.5')" in message
    assert "start_fraction must be a number in [0, 1], got row 7" in message
    assert "both start_frame and start_fraction given in row 8" in message
    assert "duplicate item" in message and "rows 1 ('a.mp4'), 9 ('a.mp4')" in message
    assert "item_id" not in message  # an empty path is reported once, not again as an empty id


def test_a_split_given_for_some_rows_only_is_an_error(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "m.csv", "path,label,split\na.mp4,cat,train\nb.mp4,cat,\n")
    with pytest.raises(LabelledDataError, match="split is given for some rows but empty in row 2"):
        read_labelled_manifest(manifest)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(LabelledDataError, match="file not found"):
        read_labelled_manifest(tmp_path / "nope.csv")
    with pytest.raises(LabelledDataError, match="no items"):
        read_labelled_manifest(_csv(tmp_path / "empty.csv", "path,label\n"))
    with pytest.raises(LabelledDataError, match="unsupported file type"):
        read_labelled_manifest(_csv(tmp_path / "m.json", "{}"))


def test_validate_manifest_uses_the_path_as_item_id_when_none_is_given() -> None:
    df = validate_manifest(pd.DataFrame({"path": ["/x/a.png"], "label": ["cat"]}), where="test")
    assert df["item_id"].tolist() == ["/x/a.png"]
    assert os.path.isabs(df["path"][0])
