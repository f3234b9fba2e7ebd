"""UCF-101 adapter on a tiny fixture in the official layout (classInd.txt, trainlist01.txt, testlist01.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labelled_fixtures import frame_numbers, make_video, video_code_of

from devcurriculum.evalsets.labelled.build import build_benchmark
from devcurriculum.evalsets.labelled.manifest import LabelledDataError
from devcurriculum.evalsets.labelled.ucf101 import ucf101_manifest

CLASSES = ["ApplyEyeMakeup", "Basketball", "HandstandPushups"]
# (list path, split) — HandstandPushups keeps UCF-101's real quirk: folder "Handstand", file "HandStand"
VIDEOS = [
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "train"),
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c02.avi", "train"),
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "test"),
    ("Basketball/v_Basketball_g08_c01.avi", "train"),
    ("Basketball/v_Basketball_g01_c03.avi", "test"),
    ("HandstandPushups/v_HandStandPushups_g08_c01.avi", "train"),
    ("HandstandPushups/v_HandStandPushups_g02_c01.avi", "test"),
]


def make_ucf101(tmp_path: Path, *, flat: bool = False) -> tuple[Path, Path]:
    """``UCF101/UCF-101/<Class>/v_*.avi`` (or flat) + ``UCF101/ucfTrainTestlist/``; returns (videos, lists)."""
    videos = tmp_path / "UCF101" / "UCF-101"
    lists = tmp_path / "UCF101" / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for i, name in enumerate(CLASSES, start=1)))
    train = [f"{p} {CLASSES.index(p.split('/')[0]) + 1}\r\n" for p, s in VIDEOS if s == "train"]
    (lists / "trainlist01.txt").write_text("".join(train))
    (lists / "testlist01.txt").write_text("".join(f"{p}\r\n" for p, s in VIDEOS if s == "test"))
    for code, (entry, _) in enumerate(VIDEOS):
        target = videos / (Path(entry).name if flat else entry)
        make_video(target, 6, video_code=10 * (code + 1), fps=25, width=80, height=60)
    return videos, lists


def test_ucf101_split1_manifest_from_the_official_lists(tmp_path: Path) -> None:
    videos, _ = make_ucf101(tmp_path)
    df = ucf101_manifest(root=videos)  # the lists are found in ../ucfTrainTestlist
    assert df["item_id"].tolist() == [p for p, s in VIDEOS if s == "train"] + [p for p, s in VIDEOS if s == "test"]
    by_id = df.set_index("item_id")
    for entry, split in VIDEOS:
        assert by_id.loc[entry, "split"] == split
        assert by_id.loc[entry, "label"] == entry.split("/")[0]
        assert by_id.loc[entry, "path"] == str(videos / entry)
    assert by_id.loc["Basketball/v_Basketball_g08_c01.avi", "group"] == "Basketball_g08"


def test_ucf101_benchmark_decodes_avi_and_keeps_the_official_split(tmp_path: Path) -> None:
    videos, lists = make_ucf101(tmp_path, flat=True)  # flat folder of v_*.avi
    manifest = ucf101_manifest(root=videos, annotations=lists, split_number=1)
    assert all(Path(p).parent == videos for p in manifest["path"])
    items, clips, status = build_benchmark(manifest, media="video", frames=4, size=16, frame_step=2, progress=False)
    assert (status["status"] == "ok").all()
    assert items["split"].tolist() == manifest["split"].tolist()
    assert clips.shape == (7, 4, 16, 16, 3)
    # frames 0, 2, 4 then the last frame (5) as padding; each clip from its own video
    assert all(frame_numbers(c) == [0, 2, 4, 5] for c in clips)
    codes = {entry: 10 * (i + 1) for i, (entry, _) in enumerate(VIDEOS)}
    assert [video_code_of(c) for c in clips] == [codes[i] for i in items["item_id"]]


def test_ucf101_index_disagreeing_with_classind_names_file_and_line(tmp_path: Path) -> None:
    videos, lists = make_ucf101(tmp_path)
    lines = (lists / "trainlist01.txt").read_text().splitlines()
    lines[3] = "Basketball/v_Basketball_g08_c01.avi 1"  # Basketball is 2
    (lists / "trainlist01.txt").write_text("\n".join(lines))
    with pytest.raises(LabelledDataError, match=r"trainlist01.txt line 4: index '1' disagrees with classInd.txt"):
        ucf101_manifest(root=videos)


def test_ucf101_unknown_class_folder_and_missing_lists(tmp_path: Path) -> None:
    videos, lists = make_ucf101(tmp_path)
    (lists / "testlist01.txt").write_text("Juggling/v_Juggling_g01_c01.avi\n")
    with pytest.raises(LabelledDataError, match="class folder 'Juggling'.* is not in classInd.txt"):
        ucf101_manifest(root=videos)
    with pytest.raises(LabelledDataError, match="trainlist02.txt"):
        ucf101_manifest(root=videos, split_number=2)
    with pytest.raises(LabelledDataError, match="classInd.txt not found"):
        ucf101_manifest(root=videos, annotations=tmp_path)


def test_ucf101_missing_video_is_recorded_not_fatal(tmp_path: Path) -> None:
    videos, _ = make_ucf101(tmp_path)
    (videos / VIDEOS[0][0]).unlink()
    items, _, status = build_benchmark(ucf101_manifest(root=videos), media="video", frames=2, size=8, progress=False)
    assert status.loc[status["item_id"] == VIDEOS[0][0], "reason"].item() == "missing: file not found"
    assert len(items) == len(VIDEOS) - 1


@pytest.mark.real_videos
def test_ucf101_layout_with_the_real_ucf_style_avi(tmp_path: Path, real_videos_dir: Path) -> None:
    """The real 320x240 MPEG-4 AVI (UCF-101 style, applying eye makeup) through the adapter, via symlinks."""
    source = real_videos_dir / "action_clips" / "ucf101_like_apply_eye_makeup__mmaction2_test.avi"
    videos = tmp_path / "UCF-101"
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n")
    entries = [f"ApplyEyeMakeup/v_ApplyEyeMakeup_g0{g}_c01.avi" for g in (1, 2, 3, 4)]
    (lists / "trainlist01.txt").write_text("".join(f"{e} 1\n" for e in entries[2:]))
    (lists / "testlist01.txt").write_text("".join(f"{e}\n" for e in entries[:2]))
    for entry in entries:
        (videos / entry).parent.mkdir(parents=True, exist_ok=True)
        (videos / entry).symlink_to(source)
    manifest = ucf101_manifest(root=videos, annotations=lists)
    manifest["start_fraction"] = [0.0, 0.5, 1.0, 0.25]
    _items, clips, status = build_benchmark(manifest, media="video", frames=16, size=32, frame_step=2, progress=False)
    assert (status["status"] == "ok").all() and status["n_frames"].tolist() == [164] * 4
    # 164 frames, span 30: room 133 -> starts 0, 67, 133, 33; none padded
    assert status["start_frame"].tolist() == [0, 67, 133, 33] and (status["n_padded"] == 0).all()
    assert clips.shape == (4, 16, 32, 32, 3) and clips.std() > 10  # real, varied pixels
