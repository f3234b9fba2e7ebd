"""ToyBox adapter on a tiny fixture with ToyBox's file naming and folder layout; the exemplar (grouped) split."""

from __future__ import annotations

from pathlib import Path

import pytest
from labelled_fixtures import make_video

from devcurriculum.evalsets.labelled.build import DEFAULT_SPLIT_MODE, build_benchmark
from devcurriculum.evalsets.labelled.manifest import LabelledDataError
from devcurriculum.evalsets.labelled.toybox import parse_toybox_name, toybox_manifest

CATEGORIES = {"cup": "households", "giraffe": "animals"}
OBJECTS = (1, 2, 3, 4)
TRANSFORMATIONS = ("rzplus", "tx")


def make_toybox(tmp_path: Path) -> Path:
    """``<root>/<supercategory>/<cat>_<NN>_pivothead/<cat>_<NN>_pivothead_<transformation>.mp4``."""
    root = tmp_path / "toybox"
    for category, super_category in CATEGORIES.items():
        for obj in OBJECTS:
            folder = root / super_category / f"{category}_{obj:02d}_pivothead"
            for transformation in TRANSFORMATIONS:
                make_video(folder / f"{category}_{obj:02d}_pivothead_{transformation}.mp4", 3, fps=30)
    return root


def test_toybox_labels_and_object_groups_from_file_names(tmp_path: Path) -> None:
    root = make_toybox(tmp_path)
    df = toybox_manifest(root=root)
    assert len(df) == len(CATEGORIES) * len(OBJECTS) * len(TRANSFORMATIONS)
    row = df.set_index("item_id").loc["households/cup_03_pivothead/cup_03_pivothead_rzplus.mp4"]
    assert row["label"] == "cup" and row["group"] == "cup_03"
    assert set(df["label"]) == {"cup", "giraffe"}
    assert df["split"].isna().all()  # ToyBox defines no split


def test_toybox_transformation_filter(tmp_path: Path) -> None:
    df = toybox_manifest(root=make_toybox(tmp_path), transformations=["rzplus"])
    assert len(df) == 8 and df["item_id"].str.endswith("_rzplus.mp4").all()
    with pytest.raises(LabelledDataError, match="unknown transformation\\(s\\) \\['spin'\\]"):
        toybox_manifest(root=tmp_path / "toybox", transformations=["spin"])


def test_toybox_exemplar_split_keeps_each_object_on_one_side(tmp_path: Path) -> None:
    manifest = toybox_manifest(root=make_toybox(tmp_path))
    assert DEFAULT_SPLIT_MODE["toybox"] == "grouped"
    items, clips, status = build_benchmark(
        manifest, media="video", frames=2, size=8, split_mode="grouped", test_fraction=0.25, seed=0, progress=False
    )
    assert (status["status"] == "ok").all() and clips.shape[0] == 16
    assert (items.groupby("group")["split"].nunique() == 1).all(), "an object is on both sides"
    test_objects = items.loc[items["split"] == "test"].groupby("label")["group"].nunique().to_dict()
    assert test_objects == {"cup": 1, "giraffe": 1}  # 25 % of 4 objects per category


def test_toybox_misnamed_videos_fail_by_name(tmp_path: Path) -> None:
    root = make_toybox(tmp_path)
    make_video(root / "extra" / "my_cup_video.mp4", 2)
    make_video(root / "extra" / "cup_09_pivothead_wobble.mp4", 2)  # not a ToyBox transformation
    with pytest.raises(LabelledDataError) as err:
        toybox_manifest(root=root)
    assert "'extra/cup_09_pivothead_wobble.mp4', 'extra/my_cup_video.mp4'" in str(err.value)


def test_toybox_transformation_task_labels_the_video_type_and_keeps_object_groups(tmp_path: Path) -> None:
    df = toybox_manifest(root=make_toybox(tmp_path), task="transformation")
    assert set(df["label"]) == set(TRANSFORMATIONS)
    row = df.set_index("item_id").loc["animals/giraffe_02_pivothead/giraffe_02_pivothead_tx.mp4"]
    assert row["label"] == "tx" and row["group"] == "giraffe_02"
    with pytest.raises(ValueError, match="task must be one of \\['category', 'transformation'\\]"):
        toybox_manifest(root=tmp_path / "toybox", task="identity")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "normalised", "regular"),
    [
        ("car_03_pivothead_rzminus.mp4", "car_03_pivothead_rzminus.mp4", True),
        ("Car_03_Pivothead_RZMINUS.MP4", "car_03_pivothead_rzminus.mp4", True),  # the pattern ignores case
        ("car_03_pivothead_rzminus (1).mp4", "car_03_pivothead_rzminus.mp4", False),
        ("duck_06_pivothead_rx_minus.mp4", "duck_06_pivothead_rxminus.mp4", False),
        ("duck06_pivothead-rxminus.mp4", "duck_06_pivothead_rxminus.mp4", False),
        ("giraffe_02__pivothead_rzplus.mp4.mp4", "giraffe_02_pivothead_rzplus.mp4", False),
        ("giraffe_2_pivothead_rzplus_2.mp4", "giraffe_02_pivothead_rzplus.mp4", False),
    ],
)
def test_irregular_names_are_normalised_not_patched_by_row(name: str, normalised: str, regular: bool) -> None:
    parsed = parse_toybox_name(name)
    assert parsed is not None and parsed.normalised == normalised and parsed.regular == regular


@pytest.mark.parametrize("name", ["my_cup_video.mp4", "cup_09_pivothead_wobble.mp4", "cup_pivothead_tx.mp4",
                                  "cup_09_pivothead_tx.avi", "cup_09_headcam_tx.mp4", "cup_09_pivothead_txcopy.mp4"])
def test_unreadable_names_stay_unreadable(name: str) -> None:
    assert parse_toybox_name(name) is None


def test_an_irregular_name_is_used_with_its_labels_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_toybox(tmp_path)
    make_video(root / "animals" / "giraffe_05_pivothead" / "giraffe_05_pivothead_rz plus.mp4", 2)
    with caplog.at_level("WARNING", logger="devcurriculum.evalsets.labelled.toybox"):
        df = toybox_manifest(root=root, task="transformation")
    row = df.set_index("item_id").loc["animals/giraffe_05_pivothead/giraffe_05_pivothead_rz plus.mp4"]
    assert row["label"] == "rzplus" and row["group"] == "giraffe_05"
    assert "giraffe_05_pivothead_rz plus.mp4 -> giraffe_05_pivothead_rzplus.mp4" in caplog.text
