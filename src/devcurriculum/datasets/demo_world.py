"""The embedded demo world: procedurally rendered "infant-like" egocentric videos whose visual
statistics change with the simulated child's age, plus a held-out labelled benchmark of moving shapes.

Entry point of the rule ``make_demo_videos``: :func:`render_demo`. The drawing itself lives in
:mod:`devcurriculum.datasets.demo_render`; this module maps ages to statistics, plans subjects and
writes the files.

Why the statistics move the way they do (head-camera studies; details in ``docs/demo_world.md``):

- Faces are frequent early and decline: faces were in view about 15 minutes of every waking hour for
  1-3-month-olds and about 5 minutes for 11-month-olds, and early faces are close, large, frontal (both
  eyes visible) and belong to few people (Jayaraman, Fausey & Smith 2015, PLoS ONE; 72,000 scenes from
  22 infants aged 1-11 months). Hence ``face_fraction`` 0.25 -> 0.083 (15/60 -> 5/60), ``face_scale``,
  ``face_frontal`` falling and ``face_identities`` rising.
- Over the first two years the input shifts "from faces to hands", later dominated by hands in contact
  with objects (Fausey, Jayaraman & Smith 2016, Cognition; 143 h from 34 infants aged 1-24 months); a
  longitudinal SAYCam re-analysis (6-32 months) found a moderate decline of faces and more hands than
  earlier estimates (Long et al. 2020, CogSci). Hence ``hand_fraction`` and ``hand_contact`` rising.
- The youngest infants' video is slower and less varied, lower in spatial and temporal complexity, and
  the youngest group's data was needed to kick-start learning (Sheybani et al., NeurIPS 2023,
  "Curriculum Learning With Infant Egocentric Videos"). Hence camera speed and jitter, object count and
  speed, clutter and texture variety rising, object size and texture period falling.

The exact endpoint values are this renderer's choices except where a number is cited above: the
studies give directions and a few magnitudes, not a generative model.

Age dependence: every statistic is linear in the age fraction
``a = clip((age_days - youngest) / (oldest - youngest), 0, 1)``, where (youngest, oldest) is
``demo.world.age_span_days`` or, when unset, the lower bound of the youngest age group and the upper
bound of the oldest. Counts are stochastically rounded so their expectation stays linear in age.

Everything is deterministic from ``demo.seed``: each video, subject and benchmark item draws from its
own ``numpy.random.SeedSequence([seed, stream, index...])``, so the frames do not depend on rendering
order and the benchmark stream never overlaps the training videos.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
from tqdm import tqdm

from devcurriculum.datasets.demo_render import (
    DIRECTIONS,
    WORLD_SHAPES,
    MovingTarget,
    RenderedVideo,
    SceneStats,
    make_people,
    random_colour,
    render_scene,
    stochastic_round,
)
from devcurriculum.utils.io import atomic_path

log = logging.getLogger("devcurriculum.datasets.demo_world")

# name -> (value at the youngest age, value at the oldest age)
WORLD_DEFAULTS: dict[str, tuple[float, float]] = {
    "face_fraction": (0.25, 0.083),
    "face_episode_s": (3.0, 1.5),
    "face_scale": (0.65, 0.35),
    "face_frontal": (0.9, 0.4),
    "face_identities": (2.0, 6.0),
    "hand_fraction": (0.1, 0.45),
    "hand_episode_s": (2.0, 2.0),
    "hand_contact": (0.2, 0.8),
    "n_objects": (2.0, 8.0),
    "object_scale": (0.3, 0.14),
    "object_speed": (0.05, 0.25),
    "camera_speed": (0.08, 0.5),
    "camera_jitter": (0.003, 0.02),
    "clutter_density": (1.0, 10.0),
    "texture_families": (1.0, 5.0),
    "texture_regions": (2.0, 9.0),
    "texture_contrast": (0.12, 0.45),
    "texture_period": (0.3, 0.12),
}

WORLD_DESCRIPTIONS: dict[str, str] = {
    "face_fraction": "Fraction of frames with a carer's face in view (Jayaraman et al. 2015: 15 -> 5 min per waking hour).",
    "face_episode_s": "Mean duration of one face-in-view episode, seconds (long face-to-face bouts early).",
    "face_scale": "Face height as a fraction of the frame height (early faces are close and large).",
    "face_frontal": "Probability that a face is frontal (both eyes visible) rather than in profile.",
    "face_identities": "Number of distinct people whose faces a child sees (few individuals early).",
    "hand_fraction": "Fraction of frames with a hand in view (Fausey et al. 2016; Long et al. 2020: hands rise).",
    "hand_episode_s": "Mean duration of one hand-in-view episode, seconds.",
    "hand_contact": "Probability that a hand episode reaches for and holds an object (hands in contact with objects rise).",
    "n_objects": "Expected number of toys placed along the camera's path in one video.",
    "object_scale": "Toy diameter as a fraction of the frame side (few large objects early, more smaller ones later).",
    "object_speed": "Toys' own drift speed, frame widths per second.",
    "camera_speed": "RMS head-pan speed, frame widths per second (slow early, fast later).",
    "camera_jitter": "Std of per-frame head shake, frame widths (jittery later).",
    "clutter_density": "Small clutter items per frame-sized area of the room.",
    "texture_families": "Texture kinds in a scene, including flat (1 = untextured; at most 7).",
    "texture_regions": "Surfaces in the room (wall, floor, furniture, rugs), each with one texture.",
    "texture_contrast": "Contrast between a texture's two colours (0-1).",
    "texture_period": "Spatial period of textures, frame widths (coarse early, fine later).",
}

# Keys whose values are probabilities/fractions.
_UNIT_INTERVAL = {"face_fraction", "face_frontal", "hand_fraction", "hand_contact", "texture_contrast"}
# Keys that must be strictly positive (durations, sizes, periods).
_POSITIVE = {"face_episode_s", "hand_episode_s", "face_scale", "object_scale", "texture_period"}

BENCHMARK_DEFAULTS: dict[str, Any] = {
    "clips_per_class": 24,
    "frames": 16,
    "shapes": ["circle", "square", "triangle", "cross"],
    "directions": ["left", "right", "up", "down"],
    "camera_scale": 0.25,
    "travel": 0.45,
}

DEMO_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "subjects_per_group": 4,
    "videos_per_subject": 2,
    "seconds": 8,
    "fps": 15,
    "size": 96,
}

# Independent random streams (first entry after the seed of every SeedSequence).
_STREAM_PEOPLE, _STREAM_VIDEO, _STREAM_BENCHMARK, _STREAM_AGES = 0, 1, 2, 3


# -------------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class World:
    """Endpoints of every statistic and the ages at which they hold."""

    endpoints: Mapping[str, tuple[float, float]]
    age_span: tuple[float, float]

    def age_fraction(self, age_days: float) -> float:
        """0 at the youngest age of the span, 1 at the oldest, clamped outside."""
        lo, hi = self.age_span
        return float(min(1.0, max(0.0, (age_days - lo) / (hi - lo))))

    def at_age(self, age_days: float) -> SceneStats:
        """Every statistic linearly interpolated between its endpoints at ``age_days``."""
        a = self.age_fraction(age_days)
        return SceneStats(**{k: young + (old - young) * a for k, (young, old) in self.endpoints.items()})


def validate_age_groups(age_groups: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, float]]:
    """``name -> (min_days, max_days)`` with min < max; errors name the offending ``data.age_groups`` key."""
    if not age_groups:
        raise ValueError("data.age_groups is empty: the demo needs at least one age group")
    groups = {}
    for name, bounds in age_groups.items():
        if len(bounds) != 2 or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds):
            raise ValueError(f"data.age_groups.{name} must be [min_days, max_days], got {bounds!r}")
        lo, hi = float(bounds[0]), float(bounds[1])
        if not 0 <= lo < hi:
            raise ValueError(f"data.age_groups.{name} needs 0 <= min_days < max_days, got [{lo}, {hi}]")
        groups[str(name)] = (lo, hi)
    return groups


def _pair(key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]  # a scalar holds the statistic constant across ages (an ablation)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"demo.world.{key} must be [youngest, oldest] or a number, got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise ValueError(f"demo.world.{key} must hold two finite numbers, got {value!r}")
    return float(value[0]), float(value[1])


def resolve_world(world: Mapping[str, Any] | None, age_groups: Mapping[str, Sequence[float]]) -> World:
    """Defaults overridden by ``demo.world``; the age span from ``age_span_days`` or the age groups."""
    world = dict(world or {})
    groups = validate_age_groups(age_groups)
    span_cfg = world.pop("age_span_days", None)
    unknown = sorted(set(world) - set(WORLD_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown key(s) in demo.world: {', '.join(unknown)}; known: age_span_days, {', '.join(WORLD_DEFAULTS)}"
        )
    endpoints = {key: _pair(key, world.get(key, default)) for key, default in WORLD_DEFAULTS.items()}
    for key, (young, old) in endpoints.items():
        if key in _UNIT_INTERVAL and not (0 <= young <= 1 and 0 <= old <= 1):
            raise ValueError(f"demo.world.{key} values must lie in [0, 1], got {[young, old]}")
        if key in _POSITIVE and not (young > 0 and old > 0):
            raise ValueError(f"demo.world.{key} values must be > 0, got {[young, old]}")
        if min(young, old) < 0:
            raise ValueError(f"demo.world.{key} values must be >= 0, got {[young, old]}")
    if not (min(endpoints["texture_families"]) >= 1 and max(endpoints["texture_families"]) <= 7):
        raise ValueError(f"demo.world.texture_families values must lie in [1, 7], got {list(endpoints['texture_families'])}")
    if span_cfg is None:
        span = (min(lo for lo, _ in groups.values()), max(hi for _, hi in groups.values()))
    else:
        span = _pair("age_span_days", span_cfg)
        if not span[0] < span[1]:
            raise ValueError(f"demo.world.age_span_days needs youngest < oldest, got {list(span)}")
    return World(endpoints=endpoints, age_span=span)


# ---------------------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class Subject:
    """A simulated child: a unique name, its age group and its age in days."""

    name: str
    group: str
    age_days: float
    index: int


def plan_subjects(age_groups: Mapping[str, Sequence[float]], subjects_per_group: int, seed: int) -> list[Subject]:
    """Subjects spread over each group's range: subject j of n gets an age drawn uniformly in the j-th
    of n equal slices of [min_days, max_days) (stratified, so a group's range is covered evenly).
    Ages are floored to 0.01 day and always stay inside [min_days, max_days)."""
    if subjects_per_group < 1:
        raise ValueError(f"demo.subjects_per_group must be >= 1, got {subjects_per_group}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_AGES]))
    subjects = []
    for name, (lo, hi) in validate_age_groups(age_groups).items():
        u = rng.random(subjects_per_group)
        for j in range(subjects_per_group):
            age = math.floor((lo + (j + u[j]) / subjects_per_group * (hi - lo)) * 100) / 100
            age = min(max(age, lo), math.nextafter(hi, lo))
            subjects.append(Subject(name=f"{name}_s{j:02d}", group=name, age_days=age, index=len(subjects)))
    return subjects


# --------------------------------------------------------------------------------------- rendering


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
    people_rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_PEOPLE, subject_index]))
    people = make_people(stochastic_round(stats.face_identities, people_rng), people_rng)
    hand_skin = make_people(1, people_rng)[0].skin
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_VIDEO, subject_index, video_index]))
    return render_scene(stats, n_frames=n_frames, size=size, fps=fps, rng=rng, people=people, hand_skin=hand_skin)


def render_video_frames(world: World, age_days: float, **kwargs: Any) -> np.ndarray:
    """Just the uint8 (T, H, W, 3) frames of :func:`render_video` (same keyword arguments)."""
    return render_video(world, age_days, **kwargs).frames


def render_benchmark_clip(
    world: World,
    shape: str,
    direction: str,
    *,
    seed: int,
    item_index: int,
    n_frames: int,
    size: int,
    fps: float,
    camera_scale: float = BENCHMARK_DEFAULTS["camera_scale"],
    travel: float = BENCHMARK_DEFAULTS["travel"],
    label_shapes: Sequence[str] = BENCHMARK_DEFAULTS["shapes"],
) -> RenderedVideo:
    """A labelled clip: a ``shape`` crossing ``travel`` frame widths in ``direction`` over a room of a
    random age's statistics (backgrounds, clutter, distractor toys of the same families as training).

    The target's colour, size, orientation and start vary so the label is not a colour or position
    code; distractors are static and never of a labelled shape, faces and hands are left out, and the
    camera moves ``camera_scale`` times as much as at that age, so the target is the salient mover.
    """
    if shape not in WORLD_SHAPES:
        raise ValueError(f"demo.benchmark.shapes: unknown shape {shape!r}; known: {', '.join(WORLD_SHAPES)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"demo.benchmark.directions: unknown direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM_BENCHMARK, item_index]))
    lo, hi = world.age_span
    stats = world.at_age(rng.uniform(lo, hi))
    radius = rng.uniform(0.10, 0.16) * size
    distance = travel * size
    dx, dy = DIRECTIONS[direction]
    # Start so the whole path keeps the target inside the frame.
    lo_xy = np.array([radius - min(dx, 0) * distance, radius - min(dy, 0) * distance])
    hi_xy = np.array([size - radius - max(dx, 0) * distance, size - radius - max(dy, 0) * distance])
    if np.any(hi_xy < lo_xy):
        raise ValueError(f"demo.benchmark.travel={travel} leaves no room for a target at size {size}")
    start = rng.uniform(lo_xy, hi_xy)
    step = distance / max(n_frames - 1, 1)
    target = MovingTarget(
        shape=shape,
        colour=random_colour(rng, (0.45, 1.0), (0.45, 1.0)),
        radius=float(radius),
        angle=float(rng.uniform(0, 2 * math.pi)),
        start=(float(start[0]), float(start[1])),
        velocity=(dx * step, dy * step),
    )
    distractors = tuple(s for s in WORLD_SHAPES if s not in set(label_shapes))
    return render_scene(
        stats, n_frames=n_frames, size=size, fps=fps, rng=rng, people=[], hand_skin=(0, 0, 0),
        faces=False, hands=False, object_motion=False, object_shapes=distractors,
        camera_scale=camera_scale, target=target, measure=False,
    )


# ------------------------------------------------------------------------------------------- files


def write_mp4(frames: np.ndarray, path: str | Path, fps: float, crf: int = 18) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames as H.264 (libx264, yuv420p) and move the file into place
    atomically. H and W must be even (4:2:0 chroma subsampling halves both)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {width}x{height}")
    with atomic_path(path, suffix=".mp4") as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream(
            "libx264", rate=Fraction(fps).limit_denominator(1001), options={"crf": str(crf), "preset": "veryfast"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1  # tiny frames: threads cost more than they save
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


@dataclass(frozen=True)
class DemoSettings:
    """The validated ``demo:`` block."""

    seed: int
    subjects_per_group: int
    videos_per_subject: int
    seconds: float
    fps: int
    size: int
    world: Mapping[str, Any]
    benchmark: Mapping[str, Any]

    @property
    def n_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


def demo_settings(demo_cfg: Mapping[str, Any]) -> DemoSettings:
    """Fill defaults and check the ``demo:`` block; every error names its ``demo.<key>``."""
    known = set(DEMO_DEFAULTS) | {"world", "benchmark"}
    unknown = sorted(set(demo_cfg) - known)
    if unknown:
        raise ValueError(f"unknown key(s) in demo: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    cfg = {**DEMO_DEFAULTS, **{k: v for k, v in demo_cfg.items() if k in DEMO_DEFAULTS}}
    for key in ("seed", "subjects_per_group", "videos_per_subject", "fps", "size"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool):
            raise ValueError(f"demo.{key} must be an integer, got {cfg[key]!r}")
    for key in ("subjects_per_group", "videos_per_subject", "fps"):
        if cfg[key] < 1:
            raise ValueError(f"demo.{key} must be >= 1, got {cfg[key]}")
    if cfg["size"] < 16 or cfg["size"] % 2:
        raise ValueError(f"demo.size must be an even integer >= 16 (H.264 yuv420p), got {cfg['size']}")
    if not isinstance(cfg["seconds"], (int, float)) or not cfg["seconds"] > 0:
        raise ValueError(f"demo.seconds must be a number > 0, got {cfg['seconds']!r}")
    bench_cfg = dict(demo_cfg.get("benchmark") or {})
    unknown = sorted(set(bench_cfg) - set(BENCHMARK_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown key(s) in demo.benchmark: {', '.join(unknown)}; known: {', '.join(BENCHMARK_DEFAULTS)}")
    bench = {**BENCHMARK_DEFAULTS, **bench_cfg}
    for key in ("clips_per_class", "frames"):
        if not isinstance(bench[key], int) or bench[key] < (2 if key == "frames" else 1):
            raise ValueError(f"demo.benchmark.{key} must be a positive integer (frames >= 2), got {bench[key]!r}")
    for key, allowed in (("shapes", WORLD_SHAPES), ("directions", tuple(DIRECTIONS))):
        values = list(bench[key])
        bad = [v for v in values if v not in allowed]
        if not values or bad or len(set(values)) != len(values):
            raise ValueError(f"demo.benchmark.{key} must be distinct values from {list(allowed)}, got {values}")
    if not 0 <= bench["camera_scale"] <= 1:
        raise ValueError(f"demo.benchmark.camera_scale must lie in [0, 1], got {bench['camera_scale']}")
    if not 0 < bench["travel"] < 0.65:
        raise ValueError(f"demo.benchmark.travel must lie in (0, 0.65) frame widths, got {bench['travel']}")
    return DemoSettings(
        seed=cfg["seed"], subjects_per_group=cfg["subjects_per_group"], videos_per_subject=cfg["videos_per_subject"],
        seconds=float(cfg["seconds"]), fps=cfg["fps"], size=cfg["size"],
        world=dict(demo_cfg.get("world") or {}), benchmark=bench,
    )


def render_demo(demo_cfg: Mapping[str, Any], age_groups: Mapping[str, Sequence[float]], out_dir: str | Path) -> Path:
    """Render the demo's training videos and held-out benchmark; return the path of ``manifest.csv``.

    Writes ``videos/<subject>_v<k>.mp4``, ``benchmark/<item_id>.mp4``, ``benchmark/labels.csv`` and,
    last (so its presence means the rest is complete), ``manifest.csv``; every file atomically.
    """
    settings = demo_settings(demo_cfg)
    world = resolve_world(settings.world, age_groups)
    subjects = plan_subjects(age_groups, settings.subjects_per_group, settings.seed)
    out = Path(out_dir)
    bench = settings.benchmark
    n_videos = len(subjects) * settings.videos_per_subject
    n_items = len(bench["shapes"]) * len(bench["directions"]) * bench["clips_per_class"]
    log.info(
        "rendering %d videos (%d frames at %dx%d, %d fps) and %d benchmark clips into %s; ages %s days map to "
        "the world's endpoints", n_videos, settings.n_frames, settings.size, settings.size, settings.fps,
        n_items, out, list(world.age_span),
    )
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    with tqdm(total=n_videos + n_items, desc="demo world", unit="video", mininterval=1.0) as bar:
        for subject in subjects:
            for k in range(settings.videos_per_subject):
                rendered = render_video(
                    world, subject.age_days, seed=settings.seed, subject_index=subject.index, video_index=k,
                    n_frames=settings.n_frames, size=settings.size, fps=settings.fps,
                )
                rel = f"videos/{subject.name}_v{k}.mp4"
                write_mp4(rendered.frames, out / rel, settings.fps)
                rows.append({"path": rel, "subject": subject.name, "age_days": subject.age_days,
                             "demo_group": subject.group, **rendered.stats})
                bar.update()
        item_index = 0
        for shape in bench["shapes"]:
            for direction in bench["directions"]:
                for j in range(bench["clips_per_class"]):
                    rendered = render_benchmark_clip(
                        world, shape, direction, seed=settings.seed, item_index=item_index,
                        n_frames=bench["frames"], size=settings.size, fps=settings.fps,
                        camera_scale=bench["camera_scale"], travel=bench["travel"], label_shapes=bench["shapes"],
                    )
                    item_id = f"{shape}_{direction}_{j:03d}"
                    write_mp4(rendered.frames, out / "benchmark" / f"{item_id}.mp4", settings.fps)
                    labels.append({"item_id": item_id, "path": f"{item_id}.mp4", "shape": shape, "direction": direction})
                    item_index += 1
                    bar.update()
    _write_csv(pd.DataFrame(labels, columns=["item_id", "path", "shape", "direction"]), out / "benchmark" / "labels.csv")
    manifest = out / "manifest.csv"
    _write_csv(pd.DataFrame(rows).round(6), manifest)
    elapsed = time.perf_counter() - started
    log.info("rendered %d videos and %d benchmark clips in %.1f s", n_videos, n_items, elapsed)
    return manifest
