"""Physion v1.5 on disk: OCP labels round-trip, scenarios from names (the Roll/collision trap), the frames read."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from physion_fixtures import SCENARIOS, SHORT, TEST, TRAIN, frame_numbers, make_physion, make_video

from devcurriculum.evalsets.physion import (
    BLACKLIST,
    PhysionError,
    canonical_id,
    physion_frame_indices,
    physion_items,
    physion_scenario,
    read_ocp_clip,
)


@pytest.fixture(scope="module")
def physion(tmp_path_factory) -> Path:
    # a folder whose name holds "collision": the scenario must come from the file name alone
    return make_physion(tmp_path_factory.mktemp("test_collision0") / "physion_v15")


def test_labels_and_scenarios_round_trip_from_the_layout(physion: Path) -> None:
    items = physion_items(physion)
    train, test = items[items["split"] == "train"], items[items["split"] == "test"]
    assert dict(zip(train["stimulus"], train["label"], strict=True)) == {k: bool(v) for k, v in TRAIN.items()}
    expected_test = {k: bool(v) for k, v in TEST.items() if k not in BLACKLIST}
    assert dict(zip(test["stimulus"], test["label"], strict=True)) == expected_test
    assert len(test) == len(TEST) - 1 and "pilot_it2_collision_non-sphere_box_0002" in BLACKLIST
    for stem, scenario in zip(items["stimulus"], items["scenario"], strict=True):
        assert scenario == SCENARIOS[stem.rsplit("_", 1)[0]], stem
    assert sorted(items["scenario"].unique()) == ["collision", "contain", "dominoes", "drop", "link", "roll", "towers"]
    assert items["item_id"].tolist() == [f"{s}/{stem}" for s, stem in zip(items["split"], items["stimulus"], strict=True)]
    # the physion_mp4s folder itself works too, and the blacklist can be kept
    assert len(physion_items(physion / "physion_mp4s", blacklist=False)) == len(TRAIN) + len(TEST)
    only = physion_items(physion, scenarios=("roll",))
    assert set(only["scenario"]) == {"roll"} and len(only) == 4


@pytest.mark.parametrize(
    ("name", "scenario"),
    [
        ("pilot_it2_rollingSliding_simple_collision_box_0000.mp4", "roll"),
        ("pilot_it2_collision_non-sphere_box_0002.mp4", "collision"),
        ("pilot-containment-vase_torus_0031.mp4", "contain"),
        ("pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0000.mp4", "towers"),
        ("/data/test_collision0/pilot_it2_drop_simple_box_0001.mp4", "drop"),  # the path is not read
    ],
)
def test_the_scenario_comes_from_the_basename(name: str, scenario: str) -> None:
    assert physion_scenario(name) == scenario


def test_a_name_without_one_scenario_key_is_an_error() -> None:
    with pytest.raises(PhysionError, match="no scenario key"):
        physion_scenario("test13_0011_img.mp4")
    with pytest.raises(PhysionError, match=r"several scenario keys \['drop', 'towers'\]"):
        physion_scenario("pilot_drop_towers_0001.mp4")
    assert canonical_id("x/pilot_towers_nb4_tdwroom-redyellow_0001_img.mp4") == "pilot_towers_nb4_tdwroom_0001"


@pytest.mark.parametrize(
    ("name", "n_frames", "frames", "step", "expected"),
    [
        ("pilot_dominoes_a_0000.mp4", 48, 4, None, [0, 15, 30, 45]),
        ("pilot_it2_collision_simple_box_0000.mp4", 48, 4, None, [0, 0, 0, 15]),
        ("pilot_it2_rollingSliding_simple_collision_box_0000.mp4", 48, 4, None, [0, 15, 30, 45]),
        ("pilot_dominoes_a_0012.mp4", 20, 4, None, [0, 15, 19, 19]),
        ("pilot_it2_collision_simple_box_0001.mp4", 10, 4, None, [0, 0, 0, 9]),
        ("pilot_dominoes_a_0000.mp4", 48, 16, None, list(range(0, 46, 3))),
        ("pilot_dominoes_a_0000.mp4", 48, 5, 10, [5, 15, 25, 35, 45]),
        ("pilot_dominoes_a_0000.mp4", 48, 8, None, [3, 9, 15, 21, 27, 33, 39, 45]),
    ],
)
def test_frame_schedule_is_the_evaluators(name: str, n_frames: int, frames: int, step: int | None, expected: list) -> None:
    assert physion_frame_indices(name, n_frames, frames, step).tolist() == expected


def test_the_clip_holds_the_scheduled_frames(physion: Path) -> None:
    train = physion / "physion_mp4s" / "train"
    for stem, expected in (("pilot_dominoes_1mid_J025R45_boxroom_0000", [0, 15, 30, 45]),
                           ("pilot_it2_collision_simple_box_0000", [0, 0, 0, 15]),
                           ("pilot_it2_rollingSliding_simple_collision_box_0000", [0, 15, 30, 45])):
        clip, used = read_ocp_clip(train / f"{stem}.mp4", frames=4, size=16)
        assert clip.shape == (4, 16, 16, 3) and clip.dtype == np.uint8
        assert used.tolist() == expected and frame_numbers(clip) == expected
    short = next(iter(SHORT))
    clip, used = read_ocp_clip(physion / "physion_mp4s" / "test" / f"{short}.mp4", frames=4, size=16)
    assert used.tolist() == frame_numbers(clip) == [0, 15, 19, 19]


def test_a_file_without_a_label_names_the_file_and_the_json(tmp_path: Path, physion: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(physion, root)
    make_video(root / "physion_mp4s" / "train" / "pilot_it2_drop_simple_box_0099.mp4", 4)
    with pytest.raises(PhysionError, match=r"pilot_it2_drop_simple_box_0099.mp4: no entry .* in .*train/all_video_labels.json"):
        physion_items(root)


def test_a_bad_label_is_named(tmp_path: Path, physion: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(physion, root)
    labels = root / "physion_mp4s" / "test" / "all_video_labels.json"
    entries = json.loads(labels.read_text())
    entries["pilot-containment-bowl_0010"]["label"] = "maybe"
    labels.write_text(json.dumps(entries))
    with pytest.raises(PhysionError, match=r"pilot-containment-bowl_0010: label must be true/false or 1/0, got 'maybe'"):
        physion_items(root)


def test_the_2021_hdf5_layout_is_refused_naming_h5py(tmp_path: Path) -> None:
    (tmp_path / "Dominoes").mkdir()
    (tmp_path / "Dominoes" / "pilot_dominoes_0000.hdf5").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(PhysionError, match=r"holds .hdf5 files .* need the h5py package"):
        physion_items(tmp_path)
    with pytest.raises(PhysionError, match="not found"):
        physion_items(tmp_path / "nowhere")
