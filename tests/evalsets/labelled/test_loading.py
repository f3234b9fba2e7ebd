"""Decoding labelled items into clips: the right frames, the training cache's pixels, bad items skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from labelled_fixtures import frame_numbers, make_image, make_video, video_code_of, write_corrupt

from devcurriculum.datasets.decode import read_frames, resize_short_side_and_center_crop
from devcurriculum.evalsets.labelled.loading import STATUS_COLUMNS, load_clips
from devcurriculum.evalsets.labelled.manifest import LabelledDataError, validate_manifest


def _manifest(rows: list[dict]) -> pd.DataFrame:
    return validate_manifest(pd.DataFrame(rows), where="test")


def test_clip_frames_follow_step_start_frame_and_start_fraction(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 20, video_code=50)
    manifest = _manifest(
        [
            {"path": str(video), "label": "a"},  # default start 0
            {"path": str(video), "label": "a", "start_frame": 5},
            {"path": str(video), "label": "a", "start_fraction": 0.5},  # room 20-1-6 = 13 -> start 7
            {"path": str(video), "label": "a", "start_fraction": 1.0},  # last clip that fits: 13
        ]
    )
    items, clips, status = load_clips(manifest, media="video", frames=4, size=16, frame_step=2, progress=False)
    assert clips.shape == (4, 4, 16, 16, 3) and clips.dtype == np.uint8
    assert [frame_numbers(c) for c in clips] == [[0, 2, 4, 6], [5, 7, 9, 11], [7, 9, 11, 13], [13, 15, 17, 19]]
    assert status["start_frame"].tolist() == [0, 5, 7, 13]
    assert (status["status"] == "ok").all() and status["n_padded"].tolist() == [0, 0, 0, 0]
    assert status["n_frames"].tolist() == [20] * 4 and status["fps"].tolist() == [10.0] * 4
    assert items["cache_row"].tolist() == [0, 1, 2, 3]
    assert items["item_id"].tolist() == manifest["item_id"].tolist()


def test_default_start_fraction_applies_to_rows_without_their_own(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 21)
    manifest = _manifest([{"path": str(video), "label": "a"}])
    _, clips, _ = load_clips(manifest, media="video", frames=3, size=8, start_fraction=0.5, progress=False)
    assert frame_numbers(clips[0]) == [9, 10, 11]  # room 21-1-2 = 18 -> centred clip starts at 9


def test_target_fps_resamples_by_time(tmp_path: Path) -> None:
    fast = make_video(tmp_path / "fast.mp4", 30, fps=20, video_code=60)
    slow = make_video(tmp_path / "slow.mp4", 30, fps=10, video_code=90)
    manifest = _manifest([{"path": str(fast), "label": "a"}, {"path": str(slow), "label": "a"}])
    _, clips, _ = load_clips(manifest, media="video", frames=4, size=8, target_fps=5.0, progress=False)
    # both clips span 0.8 s: every 4th frame at 20 fps, every 2nd at 10 fps
    assert frame_numbers(clips[0]) == [0, 4, 8, 12]
    assert frame_numbers(clips[1]) == [0, 2, 4, 6]


def test_short_video_is_padded_with_its_last_frame(tmp_path: Path) -> None:
    short = make_video(tmp_path / "short.mp4", 5)
    _, clips, status = load_clips(
        _manifest([{"path": str(short), "label": "a"}]), media="video", frames=8, size=8, progress=False
    )
    assert frame_numbers(clips[0]) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert status["n_padded"].tolist() == [3]
    assert np.array_equal(clips[0][5], clips[0][4]), "padding repeats the decoded last frame exactly"


def test_clip_pixels_are_the_training_clip_cache_pixels(tmp_path: Path) -> None:
    # a textured video, so that the resize really matters
    import av

    path = tmp_path / "textured.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (36, 60, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 60, 36, "yuv420p"
        for i in range(12):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, 3 * i, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    manifest = _manifest([{"path": str(path), "label": "a", "start_frame": 2}])
    _, clips, _ = load_clips(manifest, media="video", frames=3, size=20, frame_step=3, progress=False)
    expected = resize_short_side_and_center_crop(read_frames(path, [2, 5, 8]), 20)
    assert np.array_equal(clips[0], expected)


def test_missing_and_corrupt_items_are_recorded_and_skipped(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", 6, video_code=40)
    other = make_video(tmp_path / "other.mp4", 6, video_code=200)
    corrupt = write_corrupt(tmp_path / "corrupt.mp4")
    empty = write_corrupt(tmp_path / "empty.mp4", b"")
    manifest = _manifest(
        [
            {"path": str(good), "label": "a"},
            {"path": str(tmp_path / "missing.mp4"), "label": "a"},
            {"path": str(corrupt), "label": "b"},
            {"path": str(empty), "label": "b"},
            {"path": str(good), "label": "a", "start_frame": 50},  # start past the end
            {"path": str(other), "label": "b"},
        ]
    )
    items, clips, status = load_clips(manifest, media="video", frames=2, size=8, progress=False)
    assert list(status.columns) == list(STATUS_COLUMNS)
    assert status["status"].tolist() == ["ok", "error", "error", "error", "error", "ok"]
    reasons = status["reason"].tolist()
    assert reasons[0] is pd.NA or pd.isna(reasons[0])
    assert reasons[1].startswith("missing: file not found")
    assert reasons[2].startswith("unopenable:")
    assert reasons[3].startswith("empty:")
    assert reasons[4] == "bad_start: start_frame 50 is past the last frame (6 frames decode)"
    # the rest is processed, in manifest order, cache rows packed
    assert items["item_id"].tolist() == [str(good), str(other)]
    assert items["cache_row"].tolist() == [0, 1]
    assert clips.shape[0] == 2
    assert [video_code_of(c) for c in clips] == [40, 200]


def test_still_images_are_repeated_over_the_clip(tmp_path: Path) -> None:
    rgb = make_image(tmp_path / "rgb.png", (200, 10, 30), size=(40, 20))
    grey = make_image(tmp_path / "grey.png", (90, 90, 90), mode="L")
    rgba = make_image(tmp_path / "rgba.png", (10, 220, 30), mode="RGBA")
    palette = make_image(tmp_path / "pal.gif", (255, 0, 0), mode="P")
    jpeg = make_image(tmp_path / "photo.jpg", (0, 0, 250))
    manifest = _manifest([{"path": str(p), "label": "x"} for p in (rgb, grey, rgba, palette, jpeg)])
    _items, clips, status = load_clips(manifest, media="image", frames=5, size=12, progress=False)
    assert clips.shape == (5, 5, 12, 12, 3)
    assert (clips == clips[:, :1]).all(), "every frame of a still-image clip is the same"
    assert clips[0, 0, 0, 0].tolist() == [200, 10, 30]
    assert clips[1, 0, 0, 0].tolist() == [90, 90, 90]  # grey -> RGB
    assert clips[2, 0, 0, 0].tolist() == [10, 220, 30]  # alpha dropped
    assert clips[3, 0, 0, 0].tolist() == [255, 0, 0]  # palette -> RGB
    assert np.abs(clips[4, 0, 0, 0].astype(int) - [0, 0, 250]).max() <= 3  # JPEG is lossy
    assert status["width"].tolist()[0] == 40 and status["height"].tolist()[0] == 20
    assert status["n_frames"].isna().all()


def test_image_pixels_use_the_clip_cache_resize(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "noise.png")
    _, clips, _ = load_clips(
        _manifest([{"path": str(tmp_path / "noise.png"), "label": "x"}]), media="image", frames=2, size=16, progress=False
    )
    assert np.array_equal(clips[0, 1], resize_short_side_and_center_crop(array[None], 16)[0])


def test_unreadable_images_are_recorded_and_skipped(tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.png", (1, 2, 3))
    broken = write_corrupt(tmp_path / "broken.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(make_image(tmp_path / "full.png", (5, 6, 7), size=(64, 64)).read_bytes()[:60])
    manifest = _manifest(
        [{"path": str(p), "label": "x"} for p in (good, broken, truncated, tmp_path / "gone.png")]
    )
    items, clips, status = load_clips(manifest, media="image", frames=1, size=4, progress=False)
    assert status["status"].tolist() == ["ok", "error", "error", "error"]
    assert status["reason"][1].startswith("unreadable image: UnidentifiedImageError")
    assert status["reason"][2].startswith("unreadable image:")
    assert status["reason"][3] == "missing: file not found"
    assert len(items) == 1 and clips.shape == (1, 1, 4, 4, 3)


def test_start_positions_on_images_and_bad_arguments_fail_before_decoding(tmp_path: Path) -> None:
    manifest = _manifest([{"path": str(tmp_path / "a.png"), "label": "x", "start_frame": 3}])
    with pytest.raises(LabelledDataError, match="do not apply to still images; given in row 1"):
        load_clips(manifest, media="image", frames=2, size=4, progress=False)
    ok = _manifest([{"path": str(tmp_path / "a.mp4"), "label": "x"}])
    with pytest.raises(ValueError, match="not both"):
        load_clips(ok, media="video", frames=2, size=4, frame_step=2, target_fps=5.0, progress=False)
    with pytest.raises(ValueError, match="media must be one of"):
        load_clips(ok, media="audio", frames=2, size=4, progress=False)
    with pytest.raises(LabelledDataError, match="missing column"):
        load_clips(pd.DataFrame({"path": ["a"], "label": ["x"]}), media="video", frames=2, size=4)


def test_clips_can_be_filled_into_a_scratch_memmap(tmp_path: Path) -> None:
    a = make_video(tmp_path / "a.mp4", 4, video_code=30)
    manifest = _manifest([{"path": str(a), "label": "x"}, {"path": str(tmp_path / "gone.mp4"), "label": "x"}])
    scratch = tmp_path / "scratch" / "clips.npy"
    _, clips, _ = load_clips(manifest, media="video", frames=2, size=8, cache_path=scratch, progress=False)
    assert isinstance(clips, np.memmap) and clips.shape == (1, 2, 8, 8, 3)
    assert scratch.exists() and video_code_of(clips[0]) == 30
