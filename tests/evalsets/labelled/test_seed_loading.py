"""Benchmarks sampled with a seed policy: the decoded frames are the policy's, UCF-101 gives one item per
clip, a video too short for a clip is an item error, and the clips of one video stay on one side."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from labelled_fixtures import RED_BASE, RED_STEP, frame_numbers, make_image, make_video

from devcurriculum.config import BenchmarkSamplingConfig
from devcurriculum.evalsets.labelled.build import build_benchmark
from devcurriculum.evalsets.labelled.loading import load_clips
from devcurriculum.evalsets.labelled.manifest import LabelledDataError, validate_manifest
from devcurriculum.evalsets.labelled.writer import write_benchmark


def _manifest(rows: list[dict]) -> pd.DataFrame:
    return validate_manifest(pd.DataFrame(rows), where="test")


def _policy(policy: str, frame_rate: float) -> BenchmarkSamplingConfig:
    return BenchmarkSamplingConfig(policy=policy, frame_rate=frame_rate)  # type: ignore[arg-type]


def make_long_video(path: Path, n_frames: int, *, fps: int = 10) -> Path:
    """A flat-colour video longer than the fixtures' 31 frame codes: frame i has the code of i % 31."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "1"})
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(n_frames):
            image = np.empty((24, 32, 3), dtype=np.uint8)
            image[...] = (RED_BASE + RED_STEP * (i % 31), 100, 128)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_ssv2_policy_decodes_its_frames_and_records_them(tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.webm", 20)
    short = make_video(tmp_path / "short.webm", 5)
    manifest = _manifest([{"path": str(long), "label": "a"}, {"path": str(short), "label": "a"}])
    items, clips, status = load_clips(manifest, media="video", frames=4, size=8, sampling=_policy("ssv2_2023", 6),
                                      progress=False)
    # ds = round(12 / 6) = 2; n = 20: from 20 // 4 = 5 (case C); n = 5: padded from 0 (case A)
    assert [frame_numbers(c) for c in clips] == [[5, 7, 9, 11], [0, 2, 4, 4]]
    assert status["frame_indices"].tolist() == [[5, 7, 9, 11], [0, 2, 4, 4]]
    assert status["start_frame"].tolist() == [5, 0] and status["n_padded"].tolist() == [0, 1]
    assert items["item_id"].tolist() == manifest["item_id"].tolist()  # one clip per video: no suffix


def test_toybox_policy_takes_consecutive_frames_from_a_short_video(tmp_path: Path) -> None:
    long = make_video(tmp_path / "long.mp4", 20, fps=10)
    short = make_video(tmp_path / "short.mp4", 6, fps=10)
    manifest = _manifest([{"path": str(long), "label": "a"}, {"path": str(short), "label": "a"}])
    _, clips, status = load_clips(manifest, media="video", frames=4, size=8, sampling=_policy("toybox_2023", 5),
                                  progress=False)
    # ds = round(10 / 5) = 2, scope 8: n = 20 from int(20 / 5) = 4; n = 6 < 8: frames 0..3 at the native rate
    assert [frame_numbers(c) for c in clips] == [[4, 6, 8, 10], [0, 1, 2, 3]]
    assert status["frame_indices"].tolist() == [[4, 6, 8, 10], [0, 1, 2, 3]]


def test_ucf101_policy_gives_one_item_per_clip_and_skips_a_video_without_one(tmp_path: Path) -> None:
    long = make_long_video(tmp_path / "long.mp4", 310)
    short = make_video(tmp_path / "short.mp4", 1)
    manifest = _manifest([{"path": str(long), "label": "a"}, {"path": str(short), "label": "a"}])
    items, clips, status = load_clips(manifest, media="video", frames=2, size=8, sampling=_policy("ucf101_2023", 10),
                                      progress=False)
    # 10 fps at 10 fps: step 1, 310 resampled frames, clips at 0 and 300 (step_between_clips = 300)
    assert items["item_id"].tolist() == [f"{long}#clip=0", f"{long}#clip=1"]
    assert items["source_item"].tolist() == [str(long)] * 2 and items["cache_row"].tolist() == [0, 1]
    assert [frame_numbers(c) for c in clips] == [[0, 1], [300 % 31, 301 % 31]]
    assert status["item_id"].tolist() == [f"{long}#clip=0", f"{long}#clip=1", str(short)]
    assert status["frame_indices"].tolist()[:2] == [[0, 1], [300, 301]]
    error = status.iloc[2]
    assert error["status"] == "error" and error["reason"].startswith("no_clip: 1 frames at 10 fps")
    assert error["frame_indices"] is None


def test_the_clips_of_one_video_share_its_side_of_the_split(tmp_path: Path) -> None:
    rows = []
    for label in ("a", "b"):
        for i in range(3):
            video = make_long_video(tmp_path / f"{label}{i}.mp4", 302)
            rows.append({"path": str(video), "label": label})
    items, clips, status = build_benchmark(
        _manifest(rows), media="video", frames=2, size=8, sampling=_policy("ucf101_2023", 10), split_mode="stratified",
        test_fraction=0.34, seed=0, progress=False,
    )
    assert len(items) == 12 and clips.shape[0] == 12  # two clips per video
    assert (items.groupby("source_item")["split"].nunique() == 1).all()
    # the draw counts videos: one of the three videos of each class goes to test
    assert items.drop_duplicates("source_item").groupby("label")["split"].apply(sorted).to_dict() == {
        "a": ["test", "train", "train"], "b": ["test", "train", "train"],
    }
    out = tmp_path / "out"
    write_benchmark(items, clips, status=status, out_table=out / "u.parquet", out_cache=out / "u.npy",
                    out_status=out / "u.status.parquet")
    written = pq.read_table(out / "u.status.parquet").to_pandas()
    assert written["frame_indices"].map(list).tolist() == [[0, 1], [300, 301]] * 6


def test_a_policy_refuses_per_row_starts_and_still_images(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 10)
    with pytest.raises(LabelledDataError, match="do not apply to clips placed by the sampling policy ssv2_2023; "
                                                "given in row 1"):
        load_clips(_manifest([{"path": str(video), "label": "a", "start_frame": 2}]), media="video", frames=2,
                   size=8, sampling=_policy("ssv2_2023", 6), progress=False)
    image = make_image(tmp_path / "i.png", (10, 20, 30))
    with pytest.raises(ValueError, match="applies to videos, not still images"):
        load_clips(_manifest([{"path": str(image), "label": "a"}]), media="image", frames=2, size=8,
                   sampling=_policy("ucf101_2023", 10), progress=False)


def test_every_status_row_records_its_frames_without_a_policy_too(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 5)
    image = make_image(tmp_path / "i.png", (10, 20, 30))
    _, _, status = load_clips(_manifest([{"path": str(video), "label": "a"}]), media="video", frames=4, size=8,
                              frame_step=2, progress=False)
    assert status["frame_indices"].tolist() == [[0, 2, 4, 4]]  # padded with the last frame
    _, _, status = load_clips(_manifest([{"path": str(image), "label": "a"}]), media="image", frames=3, size=8,
                              progress=False)
    assert status["frame_indices"].tolist() == [[0, 0, 0]]  # a still image: frame 0, repeated
