"""prepare_benchmark: the digits benchmark from scikit-learn, the demo benchmark from tiny videos, and a
lab's own sources through the same writer (the sources themselves: tests/evalsets/labelled)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_digits

from devcurriculum.config import ClipConfig, ConfigError, benchmark_config
from devcurriculum.evalsets.benchmarks import benchmark_clip_fps, prepare_benchmark
from devcurriculum.evalsets.labelled import BENCHMARK_SCHEMA, LabelledDataError
from devcurriculum.utils.io import read_metadata

CLIP = ClipConfig(frames=3, frame_step=2, stride=4, size=16)


def prepare(name: str, bench: dict, clip: ClipConfig, demo_dir: Path | None, out_table: Path, out_cache: Path) -> int:
    counts = prepare_benchmark(
        name=name, bench=benchmark_config(bench, where=f"benchmarks.{name}"), clip=clip, demo_dir=demo_dir,
        out_table=out_table, out_cache=out_cache, out_status=out_table.with_suffix(".status.parquet"),
    )
    return counts["items"]


def _digits(tmp_path: Path, clip=CLIP, **bench):
    cfg = {"source": "sklearn_digits", "test_fraction": 0.3, "seed": 0, "per_class": 10, **bench}
    n = prepare("digits", cfg, clip, None, tmp_path / "digits.parquet", tmp_path / "digits.npy")
    return n, pq.read_table(tmp_path / "digits.parquet"), np.load(tmp_path / "digits.npy", mmap_mode="r")


def test_digits_shapes_labels_and_stratified_split(tmp_path: Path) -> None:
    n, table, cache = _digits(tmp_path)
    assert n == 100 == table.num_rows
    assert table.schema.equals(BENCHMARK_SCHEMA, check_metadata=False)
    assert cache.dtype == np.uint8 and cache.shape == (100, 3, 16, 16, 3)
    df = table.to_pandas()
    assert sorted(df["label"].unique()) == [str(d) for d in range(10)]
    assert (df["label_id"] == df["label"].astype(int)).all()  # "0".."9" sort to ids 0..9
    assert df["item_id"].is_unique and (df["cache_row"] == np.arange(100)).all()
    # stratified: 10 per class, 30 % test -> exactly 3 test items of every digit
    assert Counter(df.loc[df["split"] == "test", "label"]) == {str(d): 3 for d in range(10)}
    assert set(df["split"]) == {"train", "test"}
    meta = read_metadata(tmp_path / "digits.parquet")
    assert meta["devcurriculum.stage"] == "prepare_benchmark"
    assert meta["devcurriculum.benchmark"] == "digits"


def test_digits_are_still_grey_images_repeated_over_time(tmp_path: Path) -> None:
    _, _, cache = _digits(tmp_path)
    clips = np.asarray(cache)
    assert (clips == clips[:, :1]).all(), "every frame of a clip is the same image"
    assert (clips == clips[..., :1]).all(), "grey replicated to R, G and B"
    assert clips.max() == 255 and clips.min() == 0
    status = pq.read_table(tmp_path / "digits.status.parquet").to_pandas()
    assert status["frame_indices"].map(list).tolist() == [[0, 0, 0]] * 100  # a still image: frame 0, repeated


def test_digits_pixel_values_at_native_size(tmp_path: Path) -> None:
    # at S = 8 the bilinear resize is the identity, so pixels are exactly round(v / 16 * 255)
    _, table, cache = _digits(tmp_path, clip=ClipConfig(frames=3, frame_step=2, stride=4, size=8))
    digits = load_digits()
    for row in table.to_pylist()[:5]:
        index = int(row["item_id"].split("-")[1])
        expected = np.rint(digits.images[index] / 16.0 * 255.0).astype(np.uint8)
        np.testing.assert_array_equal(cache[row["cache_row"], 0, :, :, 0], expected)
        assert row["label"] == str(digits.target[index])


def test_digits_item_set_fixed_and_split_follows_seed(tmp_path: Path) -> None:
    _, a, _ = _digits(tmp_path / "a", seed=0)
    _, b, _ = _digits(tmp_path / "b", seed=0)
    _, c, _ = _digits(tmp_path / "c", seed=1)
    assert a.column("split").to_pylist() == b.column("split").to_pylist()
    assert a.column("item_id").to_pylist() == c.column("item_id").to_pylist()
    assert a.column("split").to_pylist() != c.column("split").to_pylist()


def test_unknown_source_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"benchmarks\.odd\.source"):
        prepare("odd", {"source": "cifar"}, CLIP, None, tmp_path / "t.parquet", tmp_path / "c.npy")


# ---- demo benchmark from tiny PyAV-made videos -------------------------------------------------


def _write_video(path: Path, n_frames: int, height: int = 24, width: int = 32) -> None:
    """Frame i is uniform grey 10*i + 20, so the decoded values tell which frames were taken."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(n_frames):
            img = np.full((height, width, 3), 10 * i + 20, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "demo" / "benchmark"
    (folder / "clips").mkdir(parents=True)
    rows = []
    for i, (shape, direction) in enumerate([(s, d) for s in ("disc", "square") for d in ("left", "right", "left")]):
        rel = f"clips/item{i}.mp4"
        _write_video(folder / rel, n_frames=8)
        rows.append({"item_id": f"item{i}", "path": rel, "shape": shape, "direction": direction})
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["item_id", "path", "shape", "direction"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_demo_benchmark_decodes_resizes_and_labels(demo_dir: Path, tmp_path: Path) -> None:
    cfg = {"source": "demo", "label": "shape", "test_fraction": 0.3, "seed": 0}
    n = prepare("demo_objects", cfg, CLIP, demo_dir, tmp_path / "d.parquet", tmp_path / "d.npy")
    df = pq.read_table(tmp_path / "d.parquet").to_pandas()
    cache = np.load(tmp_path / "d.npy")
    assert n == 6 and cache.shape == (6, 3, 16, 16, 3) and cache.dtype == np.uint8
    assert df["item_id"].tolist() == [f"clips/item{i}.mp4" for i in range(6)]  # stable ids from the paths
    assert df["label"].tolist() == ["disc"] * 3 + ["square"] * 3
    assert df["label_id"].tolist() == [0] * 3 + [1] * 3
    assert Counter(df.loc[df["split"] == "test", "label"]) == {"disc": 1, "square": 1}
    # frames 0, 2, 4 of each video (frame_step 2): grey 20, 40, 60 after resizing a uniform frame
    np.testing.assert_allclose(cache[df["cache_row"]].reshape(6, 3, -1).mean(axis=2), [[20, 40, 60]] * 6, atol=3)
    status = pq.read_table(tmp_path / "d.status.parquet").to_pandas()
    assert (status["status"] == "ok").all() and len(status) == 6
    assert status["frame_indices"].map(list).tolist() == [[0, 2, 4]] * 6  # the source frames each clip took


def test_demo_benchmark_direction_label(demo_dir: Path, tmp_path: Path) -> None:
    cfg = {"source": "demo", "label": "direction", "test_fraction": 0.3, "seed": 0}
    prepare("dirs", cfg, CLIP, demo_dir, tmp_path / "d.parquet", tmp_path / "d.npy")
    df = pq.read_table(tmp_path / "d.parquet").to_pandas()
    assert sorted(df["label"].unique()) == ["left", "right"]


def test_a_video_shorter_than_a_clip_is_padded_with_its_last_frame(demo_dir: Path, tmp_path: Path) -> None:
    clip = ClipConfig(frames=5, frame_step=2, stride=4, size=16)  # needs 9 frames, the videos have 8
    prepare("d", {"source": "demo"}, clip, demo_dir, tmp_path / "d.parquet", tmp_path / "d.npy")
    cache = np.load(tmp_path / "d.npy")
    # frames 0, 2, 4, 6, then the last decoded frame (7) again: grey 20, 40, 60, 80, 90
    np.testing.assert_allclose(cache.reshape(6, 5, -1).mean(axis=2), [[20, 40, 60, 80, 90]] * 6, atol=3)
    status = pq.read_table(tmp_path / "d.status.parquet").to_pandas()
    assert (status["n_padded"] == 1).all()


def test_unreadable_items_are_recorded_and_skipped(demo_dir: Path, tmp_path: Path) -> None:
    out = (tmp_path / "d.parquet", tmp_path / "d.npy")
    (demo_dir / "clips" / "item1.mp4").write_bytes(b"not a video")
    assert prepare("d", {"source": "demo"}, CLIP, demo_dir, *out) == 5
    status = pq.read_table(tmp_path / "d.status.parquet").to_pandas().set_index("item_id")
    assert status.loc["clips/item1.mp4", "status"] == "error" and status.loc["clips/item1.mp4", "reason"]
    # a class left with fewer than 2 usable items fails with one message naming it
    (demo_dir / "clips" / "item2.mp4").unlink()
    with pytest.raises(LabelledDataError, match=r"disc"):
        prepare("d", {"source": "demo"}, CLIP, demo_dir, tmp_path / "e.parquet", tmp_path / "e.npy")
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "e.npy").exists()


def test_demo_errors_name_the_problem(demo_dir: Path, tmp_path: Path) -> None:
    out = (tmp_path / "d.parquet", tmp_path / "d.npy")
    with pytest.raises(ConfigError, match=r"benchmarks\.d\.label: 'colour' is not one of"):
        prepare("d", {"source": "demo", "label": "colour"}, CLIP, demo_dir, *out)
    with pytest.raises(LabelledDataError, match=r"labels\.csv: file not found"):
        prepare("d", {"source": "demo"}, CLIP, tmp_path / "nowhere", *out)


def test_a_labs_image_folder_goes_through_the_same_writer(tmp_path: Path) -> None:
    from PIL import Image

    for label, value in (("dark", 30), ("light", 220)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((10, 12, 3), value + i, dtype=np.uint8)).save(tmp_path / "imgs" / label / f"{i}.png")
    cfg = {"source": "image_folder", "root": str(tmp_path / "imgs"), "test_fraction": 0.5, "seed": 0}
    assert prepare("imgs", cfg, CLIP, None, tmp_path / "i.parquet", tmp_path / "i.npy") == 8
    df = pq.read_table(tmp_path / "i.parquet").to_pandas()
    assert Counter(zip(df["label"], df["split"], strict=True)) == {(lbl, sp): 2 for lbl in ("dark", "light")
                                                                  for sp in ("train", "test")}
    cache = np.load(tmp_path / "i.npy")
    assert (cache == cache[:, :1]).all(), "a still image is repeated over the clip's frames"


# ---- a seed sampling policy through the config ---------------------------------------------------


def test_a_sampling_policy_in_the_config_places_the_clips_and_sets_their_rate(demo_dir: Path, tmp_path: Path) -> None:
    # the demo's 8-frame 10 fps videos as a lab's video_folder, sampled as the seed study sampled SSv2
    for i, (shape, _d) in enumerate([(s, d) for s in ("disc", "square") for d in range(3)]):
        (tmp_path / "folder" / shape).mkdir(parents=True, exist_ok=True)
        (demo_dir / "clips" / f"item{i}.mp4").rename(tmp_path / "folder" / shape / f"item{i}.mp4")
    cfg = {"source": "video_folder", "root": str(tmp_path / "folder"), "sampling": {"policy": "ssv2_2023", "frame_rate": 4}}
    clip = ClipConfig(frames=2, frame_step=1, stride=4, size=16)
    assert prepare("ssv2ish", cfg, clip, None, tmp_path / "s.parquet", tmp_path / "s.npy") == 6
    status = pq.read_table(tmp_path / "s.status.parquet").to_pandas()
    # ds = round(12 / 4) = 3; n = 8: 8 - 8 // 4 = 6 >= 2 * 3, so from frame 2: frames 2 and 5 (grey 40, 70)
    assert status["frame_indices"].map(list).tolist() == [[2, 5]] * 6
    cache = np.load(tmp_path / "s.npy")
    np.testing.assert_allclose(cache.reshape(6, 2, -1).mean(axis=2), [[40, 70]] * 6, atol=3)
    assert json.loads(read_metadata(tmp_path / "s.parquet")["devcurriculum.config"])["sampling"] == {
        "policy": "ssv2_2023", "frame_rate": 4.0}
    # the clip rate: the videos' 10 fps over the policy's 3 source frames per clip frame
    assert np.allclose(benchmark_clip_fps(tmp_path / "s.parquet", tmp_path / "s.status.parquet"), 10 / 3)


@pytest.mark.parametrize(
    ("bench", "message"),
    [
        ({"source": "cifar10", "root": "/x"}, r"benchmarks\.b\.sampling: a sampling policy applies to videos; cifar10"),
        ({"source": "image_folder", "root": "/x"}, r"benchmarks\.b\.sampling: a sampling policy applies to videos"),
        ({"source": "ucf101", "root": "/x", "frame_step": 2}, r"benchmarks\.b\.sampling: .* drop frame_step"),
        ({"source": "ucf101", "root": "/x", "start_fraction": 0.5}, r"drop start_fraction"),
    ],
)
def test_a_sampling_policy_where_it_cannot_apply_names_the_key(bench: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        benchmark_config({**bench, "sampling": {"policy": "ucf101_2023", "frame_rate": 10}}, where="benchmarks.b")


def test_a_sampling_policy_needs_a_known_policy_and_a_rate() -> None:
    with pytest.raises(ConfigError, match=r"benchmarks\.b\.sampling\.policy: 'ucf' is not one of"):
        benchmark_config({"source": "ucf101", "root": "/x", "sampling": {"policy": "ucf", "frame_rate": 10}},
                         where="benchmarks.b")
    with pytest.raises(ConfigError, match=r"benchmarks\.b\.sampling: 'frame_rate' is a required property"):
        benchmark_config({"source": "ucf101", "root": "/x", "sampling": {"policy": "ucf101_2023"}}, where="benchmarks.b")
