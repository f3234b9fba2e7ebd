"""From a video_manifest file to the written benchmark: the prepare_benchmark contract, bad input, real footage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from labelled_fixtures import frame_numbers, make_image, make_video, video_code_of, write_corrupt

from devcurriculum.evalsets.labelled.build import build_benchmark
from devcurriculum.evalsets.labelled.folders import image_folder_manifest
from devcurriculum.evalsets.labelled.manifest import LabelledDataError, read_labelled_manifest
from devcurriculum.evalsets.labelled.writer import BENCHMARK_SCHEMA, STATUS_SCHEMA, write_benchmark
from devcurriculum.utils.io import provenance, read_metadata


def make_video_manifest(tmp_path: Path) -> Path:
    """6 good videos of 2 classes, plus one missing and one corrupt file, in a CSV with relative paths."""
    folder = tmp_path / "dataset"
    rows = ["path,label"]
    for i in range(6):
        label = "wave" if i < 3 else "jump"
        make_video(folder / "clips" / f"{label}{i}.mp4", 8, video_code=10 * (i + 1))
        rows.append(f"clips/{label}{i}.mp4,{label}")
    write_corrupt(folder / "clips" / "corrupt.mp4")
    rows += ["clips/missing.mp4,wave", "clips/corrupt.mp4,jump"]
    (folder / "bench.csv").write_text("\n".join(rows) + "\n")
    return folder / "bench.csv"


def test_video_manifest_to_written_benchmark(tmp_path: Path) -> None:
    manifest = read_labelled_manifest(make_video_manifest(tmp_path))
    items, clips, status = build_benchmark(
        manifest, media="video", frames=4, size=16, frame_step=2, test_fraction=0.34, seed=0, where="benchmarks.toy",
        progress=False,
    )
    out = tmp_path / "results" / "benchmarks"
    meta = provenance("prepare_benchmark", {"source": "video_manifest"}, benchmark="toy")
    counts = write_benchmark(
        items, clips, status=status, out_table=out / "toy.parquet", out_cache=out / "toy.npy",
        out_status=out / "toy.status.parquet", provenance=meta,
    )
    assert counts == {"items": 6, "train": 4, "test": 2, "skipped": 2}

    table = pq.read_table(out / "toy.parquet")
    assert table.schema.equals(BENCHMARK_SCHEMA, check_metadata=False)
    df = table.to_pandas()
    assert df["item_id"].tolist() == [f"clips/{'wave' if i < 3 else 'jump'}{i}.mp4" for i in range(6)]
    assert df["label_id"].tolist() == [1, 1, 1, 0, 0, 0]  # sorted classes: jump = 0, wave = 1
    assert df["cache_row"].tolist() == list(range(6))
    assert df.groupby("label")["split"].apply(sorted).to_dict() == {
        "jump": ["test", "train", "train"], "wave": ["test", "train", "train"],
    }
    cache = np.load(out / "toy.npy", mmap_mode="r")
    assert cache.dtype == np.uint8 and cache.shape == (6, 4, 16, 16, 3)
    assert [video_code_of(c) for c in cache] == [10, 20, 30, 40, 50, 60]  # row i = item i's own video
    assert all(frame_numbers(c) == [0, 2, 4, 6] for c in cache)

    skipped = pq.read_table(out / "toy.status.parquet")
    assert skipped.schema.equals(STATUS_SCHEMA, check_metadata=False)
    errors = skipped.to_pandas().query("status == 'error'")
    assert errors["item_id"].tolist() == ["clips/missing.mp4", "clips/corrupt.mp4"]
    assert errors["reason"].str.split(":").str[0].tolist() == ["missing", "unopenable"]

    written = read_metadata(out / "toy.parquet")
    assert written["devcurriculum.stage"] == "prepare_benchmark"
    assert json.loads(written["devcurriculum.classes"]) == ["jump", "wave"]
    assert json.loads(written["devcurriculum.cache_shape"]) == [6, 4, 16, 16, 3]
    assert json.loads(written["devcurriculum.items"])["skipped"] == 2


def test_item_ids_are_stable_when_rows_are_added_or_reordered(tmp_path: Path) -> None:
    path = make_video_manifest(tmp_path)
    before = read_labelled_manifest(path).set_index("item_id")["path"].to_dict()
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:]), "clips/new.mp4,wave"]) + "\n")
    after = read_labelled_manifest(path).set_index("item_id")["path"].to_dict()
    assert {k: after[k] for k in before} == before


def test_a_class_left_with_one_usable_item_fails_naming_it_after_decoding(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    make_video(folder / "a1.mp4", 3)
    make_video(folder / "a2.mp4", 3)
    make_video(folder / "b1.mp4", 3)
    make_video(folder / "c1.mp4", 3)
    write_corrupt(folder / "b2.mp4")
    write_corrupt(folder / "c2.mp4")
    (folder / "m.csv").write_text("path,label\na1.mp4,a\na2.mp4,a\nb1.mp4,b\nb2.mp4,b\nc1.mp4,c\nc2.mp4,c\n")
    with pytest.raises(LabelledDataError) as err:
        build_benchmark(read_labelled_manifest(folder / "m.csv"), media="video", frames=2, size=8, where="benchmarks.x",
                        progress=False)
    message = str(err.value)
    assert message.startswith(
        "benchmarks.x (2 unusable item(s) skipped: unopenable 2; first: 'b2.mp4': unopenable: cannot open:"
    )
    assert "class(es) with fewer than 2 usable items: 'b' (1), 'c' (1)" in message


def test_a_class_too_small_in_the_manifest_fails_before_decoding(tmp_path: Path) -> None:
    manifest = pd.DataFrame({"path": ["/nowhere/a.mp4", "/nowhere/b.mp4", "/nowhere/c.mp4"], "label": ["a", "a", "b"]})
    from devcurriculum.evalsets.labelled.manifest import validate_manifest

    with pytest.raises(LabelledDataError, match="before decoding.*'b' \\(1\\)"):
        build_benchmark(validate_manifest(manifest, where="m"), media="video", frames=2, size=8, progress=False)


def test_source_split_with_an_empty_test_side_fails(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for i in range(2):
        make_image(root / "a" / f"{i}.png", (i, 0, 0))
        make_image(root / "b" / f"{i}.png", (0, i, 0))
    manifest = image_folder_manifest(root).assign(split="train")
    with pytest.raises(LabelledDataError, match="the test split is empty"):
        build_benchmark(manifest, media="image", frames=1, size=4, progress=False)


def test_image_folder_benchmark_written_with_stratified_split(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for i in range(4):
        make_image(root / "red" / f"r{i}.png", (250, 5 * i, 0))
        make_image(root / "blue" / f"b{i}.jpg", (0, 5 * i, 250))
    write_corrupt(root / "blue" / "broken.png")
    items, clips, status = build_benchmark(
        image_folder_manifest(root), media="image", frames=3, size=8, test_fraction=0.25, seed=1, progress=False
    )
    counts = write_benchmark(items, clips, out_table=tmp_path / "b.parquet", out_cache=tmp_path / "b.npy")
    assert counts == {"items": 8, "train": 6, "test": 2, "skipped": 0}  # no status table given
    assert (status["status"] == "error").sum() == 1
    df = pq.read_table(tmp_path / "b.parquet").to_pandas()
    assert df.groupby("label")["split"].apply(lambda s: (s == "test").sum()).to_dict() == {"blue": 1, "red": 1}


def test_write_benchmark_rejects_inconsistent_inputs(tmp_path: Path) -> None:
    items = pd.DataFrame({"item_id": ["a", "b"], "label": ["x", "x"], "split": ["train", pd.NA], "cache_row": [0, 1]})
    clips = np.zeros((2, 1, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(LabelledDataError, match="items \\['b'\\] have none"):
        write_benchmark(items, clips, out_table=tmp_path / "t.parquet", out_cache=tmp_path / "c.npy")
    with pytest.raises(LabelledDataError, match="cache_row must number the 3 clips"):
        write_benchmark(items.assign(split="train"), np.zeros((3, 1, 4, 4, 3), np.uint8),
                        out_table=tmp_path / "t.parquet", out_cache=tmp_path / "c.npy")
    assert not (tmp_path / "t.parquet").exists() and not (tmp_path / "c.npy").exists()


@pytest.mark.real_videos
def test_video_manifest_of_real_clips(tmp_path: Path, real_videos_dir: Path) -> None:
    """Real files of four containers/codecs (MP4/H.264, MKV, AVI/MPEG-4, GIF) through a video_manifest."""
    clips_dir = real_videos_dir / "action_clips"
    names = [
        "kinetics400_arm_wrestling__mmaction2_demo.mp4",
        "kinetics400_flipping_pancake__decord.mkv",
        "ucf101_like_apply_eye_makeup__mmaction2_test.avi",
        "ucf101_CricketShot_v_CricketShot_g04_c01_rgb.gif",
    ]
    rows = ["path,label,split,start_fraction"]
    for name in names:  # two clips per video, at its start (train) and centre (test): label = the video
        rows += [f"{clips_dir / name},{name.split('_')[1]},train,0", f"{clips_dir / name},{name.split('_')[1]},test,0.5"]
    (tmp_path / "real.csv").write_text("\n".join(rows) + "\n")
    manifest = read_labelled_manifest(tmp_path / "real.csv")
    _items, clips, status = build_benchmark(
        manifest, media="video", frames=8, size=32, target_fps=10.0, progress=False
    )
    assert (status["status"] == "ok").all(), status[["item_id", "reason"]]
    assert clips.shape == (8, 8, 32, 32, 3) and (status["n_padded"] == 0).all()
    assert status["n_frames"].tolist()[::2] == [280, 310, 164, 79]  # decoded frame counts from the README
    # different videos give different clips; the two clips of one video differ too (different starts)
    assert len({clips[i].tobytes() for i in range(8)}) == 8
