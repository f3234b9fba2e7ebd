"""video_folder / image_folder: labels come from the class folder and from nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from labelled_fixtures import make_image, make_video, write_corrupt

from devcurriculum.evalsets.labelled.folders import image_folder_manifest, video_folder_manifest
from devcurriculum.evalsets.labelled.manifest import LabelledDataError


def test_image_folder_labels_are_the_top_level_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "images"
    make_image(root / "cat" / "dog.png", (1, 1, 1))  # file name says dog: the folder says cat
    make_image(root / "cat" / "more" / "deeper" / "x.JPG", (2, 2, 2))  # nested: still cat; extension case
    make_image(root / "dog" / "d1.png", (3, 3, 3))
    (root / "README.txt").write_text("about this dataset")  # not an image: ignored
    (root / "dog" / "labels.csv").write_text("dog,cat\n")  # never read as labels
    make_image(root / "dog" / ".hidden.png", (4, 4, 4))  # hidden: ignored
    make_image(root / ".cache" / "c.png", (5, 5, 5))  # hidden folder: not a class
    df = image_folder_manifest(root)
    assert df["item_id"].tolist() == ["cat/dog.png", "cat/more/deeper/x.JPG", "dog/d1.png"]
    assert df["label"].tolist() == ["cat", "cat", "dog"]
    assert df["path"].tolist() == [str((root / i).resolve()) for i in df["item_id"]]
    assert df["split"].isna().all() and df["group"].isna().all()


def test_video_folder_lists_videos_by_class(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    make_video(root / "wave" / "a.mp4", 3)
    make_video(root / "wave" / "b.avi", 3)
    make_video(root / "jump" / "c.webm", 3)
    make_image(root / "jump" / "poster.png", (0, 0, 0))  # an image in a video folder: ignored
    df = video_folder_manifest(root)
    assert sorted(zip(df["item_id"], df["label"], strict=True)) == [
        ("jump/c.webm", "jump"), ("wave/a.mp4", "wave"), ("wave/b.avi", "wave"),
    ]


def test_media_files_outside_a_class_folder_and_empty_classes_fail_by_name(tmp_path: Path) -> None:
    root = tmp_path / "images"
    make_image(root / "cat" / "c.png", (1, 1, 1))
    make_image(root / "loose.png", (1, 1, 1))
    (root / "empty_class").mkdir()
    (root / "text_only").mkdir()
    (root / "text_only" / "notes.txt").write_text("no images here")
    with pytest.raises(LabelledDataError) as err:
        image_folder_manifest(root)
    message = str(err.value)
    assert "files directly in the root have no class folder: 'loose.png'" in message
    assert "class folder(s) with no" in message and "'empty_class', 'text_only'" in message


def test_missing_root_or_no_class_folders(tmp_path: Path) -> None:
    with pytest.raises(LabelledDataError, match="folder not found"):
        video_folder_manifest(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    with pytest.raises(LabelledDataError, match="no class folders"):
        video_folder_manifest(tmp_path / "flat")


def test_unreadable_files_are_listed_so_loading_can_record_them(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    write_corrupt(root / "wave" / "broken.mp4")
    df = video_folder_manifest(root)
    assert df["item_id"].tolist() == ["wave/broken.mp4"]  # listed; load_clips records it as an error
