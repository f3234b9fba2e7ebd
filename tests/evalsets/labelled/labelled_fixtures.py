"""Tiny media files for the labelled-source tests, made in the test with PyAV / Pillow / numpy.

Every video frame is one flat colour whose red value encodes the frame number (``12 + 8 * i``) and
whose green value encodes the video, so a decoded, resized clip says which source frames it holds
(:func:`frame_numbers`) even after lossy coding.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

RED_BASE = 12
RED_STEP = 8
MAX_FRAMES = (255 - RED_BASE) // RED_STEP + 1  # 31 distinguishable frame numbers

# container suffix -> (codec, encoder options); all encoders ship with PyAV's FFmpeg
CODECS = {
    ".mp4": ("libx264", {"crf": "1"}),
    ".avi": ("mpeg4", {"qmin": "1", "qmax": "2"}),
    ".webm": ("libvpx-vp9", {"crf": "4", "b": "0"}),
    ".mkv": ("libx264", {"crf": "1"}),
}


def frame_colour(index: int, video_code: int) -> tuple[int, int, int]:
    if not 0 <= index < MAX_FRAMES:
        raise ValueError(f"frame {index} cannot be encoded (max {MAX_FRAMES - 1})")
    return RED_BASE + RED_STEP * index, video_code % 256, 128


def make_video(
    path: Path, n_frames: int, *, video_code: int = 100, fps: int = 10, width: int = 64, height: int = 48
) -> Path:
    """A flat-colour video whose frame ``i`` has red ``12 + 8 i`` and green ``video_code``."""
    codec, options = CODECS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            image = np.empty((height, width, 3), dtype=np.uint8)
            image[...] = frame_colour(i, video_code)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_numbers(clip: np.ndarray) -> list[int]:
    """The source frame number of each frame of a decoded clip ``(T, S, S, 3)`` (from its red value)."""
    red = clip[..., 0].reshape(len(clip), -1).mean(axis=1)
    return [int(v) for v in np.rint((red - RED_BASE) / RED_STEP)]


def video_code_of(clip: np.ndarray, *, tolerance: int = 4) -> int:
    """The ``video_code`` a clip was made with, from its green value (lossy coding moves it by a few levels)."""
    green = float(clip[..., 1].mean())
    code = int(np.rint(green / 10) * 10)  # tests use codes that are multiples of 10
    if abs(green - code) > tolerance:
        raise AssertionError(f"green {green:.1f} is not within {tolerance} of a multiple of 10")
    return code


def make_image(path: Path, colour: tuple[int, int, int], *, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> Path:
    """A flat-colour still image (``size`` = width, height) saved with Pillow in ``mode``."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path)
    return path


def write_corrupt(path: Path, content: bytes = b"this is not a media file\x00\x01") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_json(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path
