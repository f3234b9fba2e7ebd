"""Training videos of the demo: render one child's video, encode it, write the tables.

Everything is deterministic from ``demo.seed``: a child's carers and skin tone come from the stream
``[seed, 0, subject]``, each video from ``[seed, 1, subject, video]`` (:mod:`.world`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd

from devcurriculum.demo.draw import make_people, stochastic_round
from devcurriculum.demo.scene import RenderedVideo, render_scene
from devcurriculum.demo.world import STREAM_PEOPLE, STREAM_VIDEO, World, stream_rng
from devcurriculum.utils.atomic import atomic_path


def render_video(
    world: World,
    age_days: float,
    *,
    seed: int,
    subject_index: int,
    video_index: int,
    n_frames: int,
    size: int,
    fps: float,
) -> RenderedVideo:
    """One training video of a child aged ``age_days``: frames (T, size, size, 3) uint8 and its stats.

    The carers' faces and the child's skin tone come from the subject's stream, so a child's videos
    share the same few people; everything else from the video's own stream.
    """
    stats = world.at_age(age_days)
    people_rng = stream_rng(seed, STREAM_PEOPLE, subject_index)
    people = make_people(stochastic_round(stats.face_identities, people_rng), people_rng)
    hand_skin = make_people(1, people_rng)[0].skin
    rng = stream_rng(seed, STREAM_VIDEO, subject_index, video_index)
    return render_scene(stats, n_frames=n_frames, size=size, fps=fps, rng=rng, people=people, hand_skin=hand_skin)


def render_video_frames(world: World, age_days: float, **kwargs: Any) -> np.ndarray:
    """Just the uint8 (T, H, W, 3) frames of :func:`render_video` (same keyword arguments)."""
    return render_video(world, age_days, **kwargs).frames


def x264_options(crf: int) -> dict[str, str]:
    """libx264 settings of the demo's videos: quality ``crf``, and the same bitstream for the same frames.

    x264's macroblock-tree rate control (``mbtree``) made the encoder non-deterministic here: the
    same frames, single-threaded, gave different bitstreams and different decoded pixels from run to
    run (x264 core 165 in PyAV 18.1: up to 13 variants in 30 encodes of a 32 px clip, 9 in 30 of a
    default 96 px video), so every clip, feature and model downstream changed between two runs of
    the same config. With it off, 30 of 30 encodes were identical at every size tried; files are
    10-40 % larger.
    """
    return {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}


def write_mp4(frames: np.ndarray, path: str | Path, fps: float, crf: int = 18) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames as H.264 (libx264, yuv420p) and move the file into place
    atomically. H and W must be even (4:2:0 chroma subsampling halves both)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {width}x{height}")
    with atomic_path(path, suffix=".mp4") as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options=x264_options(crf))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1  # tiny frames: threads cost more than they save
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as CSV without the index, moved into place atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
