"""The demo renders exactly what it rendered before it moved out of ``datasets/`` (issue 10).

The reference hashes were recorded from the old ``devcurriculum.datasets.demo_world`` (commit 0d1f686)
for the tiny config of ``demo_cases.TINY_DEMO``: the manifest (whose measured columns, such as motion
energy and edge density, are computed from every rendered pixel), the benchmark's labels.csv and the
rendered frames of every training video and benchmark clip, in render order.

The decoded frames of the encoded videos could not be pinned to the old code: its H.264 encoder was
not deterministic (the same frames gave different files from run to run; see
``devcurriculum.demo.video.x264_options``). Their hash was recorded after that fix, so a change of
the encoder settings or of the pinned PyAV/libx264 shows up here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from demo_cases import GROUPS, TINY_DEMO, decode

from devcurriculum.demo import World, plan_subjects, render_benchmark_clip, render_video

OLD_MANIFEST_SHA256 = "559379a3d4a8983467f8073b65dcdbb200e4db69b58eb8986a7b9c225291e67c"
OLD_LABELS_SHA256 = "c5bd443d5a2961d1028c2bfe11fa24e62b011c2236d86b277366727871aa1a39"
OLD_TRAINING_FRAMES_SHA256 = "ea0aebca3e34b220c5b7aca8ca6a2764d8d3f52d21f8bc4117d79fef651739ac"
OLD_BENCHMARK_FRAMES_SHA256 = "34c7ca5b3493d29a4136928da85b261aec8a8832a21b252165bc67b8fdac9f06"
# recorded with mbtree off (PyAV 18.1.0, x264 core 165)
DECODED_TRAINING_VIDEOS_SHA256 = "67f2afbccd8607445b37604c3b0f41daa8bf6886cd9c312cc0f5c884cb69eb88"
DECODED_BENCHMARK_VIDEOS_SHA256 = "e29af5b357d30a2ef8ae4a4852c1bb5f709618bcfd0ff1786f89aba69b029724"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_and_labels_are_byte_identical(demo_dir: Path) -> None:
    assert _sha256(demo_dir / "manifest.csv") == OLD_MANIFEST_SHA256
    assert _sha256(demo_dir / "benchmark" / "labels.csv") == OLD_LABELS_SHA256


def test_rendered_frames_are_identical() -> None:
    demo = TINY_DEMO
    world = World.from_config(demo.world, GROUPS)
    training = hashlib.sha256()
    for subject in plan_subjects(GROUPS, demo.subjects_per_group, demo.seed):
        for k in range(demo.videos_per_subject):
            video = render_video(
                world, subject.age_days, seed=demo.seed, subject_index=subject.index, video_index=k,
                n_frames=demo.n_frames, size=demo.size, fps=demo.fps,
            )
            training.update(video.frames.tobytes())
    assert training.hexdigest() == OLD_TRAINING_FRAMES_SHA256
    benchmark = hashlib.sha256()
    item = 0
    for shape in demo.benchmark.shapes:
        for direction in demo.benchmark.directions:
            for _ in range(demo.benchmark.clips_per_class):
                clip = render_benchmark_clip(
                    world, shape, direction, bench=demo.benchmark, seed=demo.seed, item_index=item,
                    size=demo.size, fps=demo.fps,
                )
                benchmark.update(clip.frames.tobytes())
                item += 1
    assert benchmark.hexdigest() == OLD_BENCHMARK_FRAMES_SHA256


def _decoded_sha256(folder: Path, paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        frames = decode(folder / path)
        digest.update(str(frames.shape).encode())
        digest.update(frames.tobytes())
    return digest.hexdigest()


def test_decoded_videos_are_identical(demo_dir: Path) -> None:
    manifest = pd.read_csv(demo_dir / "manifest.csv")
    assert _decoded_sha256(demo_dir, manifest["path"].tolist()) == DECODED_TRAINING_VIDEOS_SHA256
    labels = pd.read_csv(demo_dir / "benchmark" / "labels.csv")
    assert _decoded_sha256(demo_dir / "benchmark", labels["path"].tolist()) == DECODED_BENCHMARK_VIDEOS_SHA256
