"""The demo's held-out labelled benchmark: a shape moving in a direction over the demo's rooms, and
(optionally) what is in view: a carer's face, a hand, a toy or only the room.

Each shape x direction item draws from its own stream ``[seed, 2, item]`` and lands in ``benchmark/``, so
benchmark clips are never training videos; ``labels.csv`` lists item_id, path (relative to
``benchmark/``), shape and direction. The "view" clips (``views_per_class`` per class, 0 = none) draw
from ``[seed, 4, item]`` and are listed in ``views.csv`` (item_id, path, view); the shape x direction
clips and ``labels.csv`` do not depend on them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.config import DemoBenchmarkConfig
from devcurriculum.demo.actors import MovingTarget
from devcurriculum.demo.draw import DIRECTIONS, WORLD_SHAPES, make_people, random_colour
from devcurriculum.demo.scene import RenderedVideo, render_scene
from devcurriculum.demo.video import write_csv, write_mp4
from devcurriculum.demo.world import STREAM_BENCHMARK, STREAM_VIEWS, World, stream_rng

LABEL_COLUMNS = ["item_id", "path", "shape", "direction"]
VIEW_COLUMNS = ["item_id", "path", "view"]
#: the classes of the "view" label: what the infant's camera shows besides the room
VIEWS: tuple[str, ...] = ("face", "hand", "toy", "room")
#: a view toy drifts this many frame widths over a clip (it is held, not thrown)
VIEW_TOY_DRIFT = 0.05


def _target(
    shape: str, direction: str, bench: DemoBenchmarkConfig, size: int, rng: np.random.Generator
) -> MovingTarget:
    """A target of random colour, size, orientation and start whose whole path stays inside the frame."""
    radius = rng.uniform(*bench.target_scale) * size
    distance = bench.travel * size
    dx, dy = DIRECTIONS[direction]
    # DemoBenchmarkConfig keeps 2 * radius + travel within the frame, so the box of start points is
    # never empty.
    lo_xy = np.array([radius - min(dx, 0) * distance, radius - min(dy, 0) * distance])
    hi_xy = np.array([size - radius - max(dx, 0) * distance, size - radius - max(dy, 0) * distance])
    start = rng.uniform(lo_xy, hi_xy)
    step = distance / max(bench.frames - 1, 1)
    return MovingTarget(
        shape=shape,
        colour=random_colour(rng, (0.45, 1.0), (0.45, 1.0)),
        radius=float(radius),
        angle=float(rng.uniform(0, 2 * math.pi)),
        start=(float(start[0]), float(start[1])),
        velocity=(dx * step, dy * step),
    )


def render_benchmark_clip(
    world: World, shape: str, direction: str, *, bench: DemoBenchmarkConfig, seed: int, item_index: int, size: int,
    fps: float,
) -> RenderedVideo:
    """A labelled clip of ``bench.frames`` frames: a ``shape`` crossing ``bench.travel`` frame widths in
    ``direction`` over a room of a random age's statistics (backgrounds, clutter, distractor toys of the
    same families as training).

    The target's colour, size, orientation and start vary so the label is not a colour or position
    code; distractors are static and never of a labelled shape, faces and hands are left out, and the
    camera moves ``bench.camera_scale`` times as much as at that age, so the target is the salient mover.
    """
    rng = stream_rng(seed, STREAM_BENCHMARK, item_index)
    lo, hi = world.age_span
    stats = world.at_age(rng.uniform(lo, hi))
    # fewer distractor toys and clutter items than at that age (multipliers; 1 = as in training)
    stats = dataclasses.replace(stats, n_objects=stats.n_objects * bench.distractor_scale,
                                clutter_density=stats.clutter_density * bench.clutter_scale)
    target = _target(shape, direction, bench, size, rng)
    distractors = tuple(s for s in WORLD_SHAPES if s not in set(bench.shapes))
    return render_scene(
        stats, n_frames=bench.frames, size=size, fps=fps, rng=rng, people=[], hand_skin=(0, 0, 0),
        faces=False, hands=False, object_motion=False, object_shapes=distractors,
        camera_scale=bench.camera_scale, target=target, measure=False,
    )


def render_view_clip(
    world: World, view: str, *, bench: DemoBenchmarkConfig, seed: int, item_index: int, size: int, fps: float,
) -> RenderedVideo:
    """A clip of ``bench.frames`` frames showing ``view`` (one of :data:`VIEWS`) over a room of a random age.

    Room, camera motion (as at that age) and the drawing of faces and hands are those of the training
    videos: ``face`` = a carer's face in view throughout (one of two random carers), ``hand`` = a hand
    entering from the bottom edge and hovering, ``toy`` = one toy of a random world shape, colour and
    orientation (radius ``bench.view_toy_scale`` frame widths) drifting slowly, ``room`` = nothing but the
    room. No other toys are drawn, so the label is unambiguous.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; known views: {', '.join(VIEWS)}")
    rng = stream_rng(seed, STREAM_VIEWS, item_index)
    lo, hi = world.age_span
    stats = world.at_age(rng.uniform(lo, hi))
    people = make_people(2, rng)
    hand_skin = make_people(1, rng)[0].skin
    stats = dataclasses.replace(stats, face_fraction=1.0 if view == "face" else 0.0,
                                hand_fraction=1.0 if view == "hand" else 0.0, hand_contact=0.0)
    target = None
    if view == "toy":
        radius = rng.uniform(*bench.view_toy_scale) * size
        margin = radius + 0.1 * size
        start = rng.uniform(margin, size - margin, 2)
        heading = rng.uniform(0, 2 * math.pi)
        step = VIEW_TOY_DRIFT * size / max(bench.frames - 1, 1)
        target = MovingTarget(
            shape=str(WORLD_SHAPES[rng.integers(len(WORLD_SHAPES))]),
            colour=random_colour(rng, (0.55, 1.0), (0.5, 1.0)),
            radius=float(radius),
            angle=float(rng.uniform(0, 2 * math.pi)),
            start=(float(start[0]), float(start[1])),
            velocity=(step * math.cos(heading), step * math.sin(heading)),
        )
    return render_scene(
        stats, n_frames=bench.frames, size=size, fps=fps, rng=rng, people=people, hand_skin=hand_skin,
        faces=view == "face", hands=view == "hand", object_shapes=(), target=target, measure=False,
    )


def render_views(
    world: World, bench: DemoBenchmarkConfig, *, seed: int, size: int, fps: float, out_dir: Path,
    progress: Callable[[], object],
) -> Path:
    """Render ``views_per_class`` clips of every view into ``out_dir`` and write ``views.csv``."""
    rows = []
    item_index = 0
    for view in VIEWS:
        for j in range(bench.views_per_class):
            rendered = render_view_clip(world, view, bench=bench, seed=seed, item_index=item_index, size=size, fps=fps)
            item_id = f"view_{view}_{j:03d}"
            write_mp4(rendered.frames, out_dir / f"{item_id}.mp4", fps)
            rows.append({"item_id": item_id, "path": f"{item_id}.mp4", "view": view})
            item_index += 1
            progress()
    views_csv = out_dir / "views.csv"
    write_csv(pd.DataFrame(rows, columns=VIEW_COLUMNS), views_csv)
    return views_csv


def render_benchmark(
    world: World, bench: DemoBenchmarkConfig, *, seed: int, size: int, fps: float, out_dir: Path,
    progress: Callable[[], object],
) -> Path:
    """Render every item into ``out_dir`` (shape x direction x clips_per_class) and write ``labels.csv``;
    with ``views_per_class`` > 0 also the view clips and ``views.csv``."""
    labels = []
    item_index = 0
    for shape in bench.shapes:
        for direction in bench.directions:
            for j in range(bench.clips_per_class):
                rendered = render_benchmark_clip(
                    world, shape, direction, bench=bench, seed=seed, item_index=item_index, size=size, fps=fps
                )
                item_id = f"{shape}_{direction}_{j:03d}"
                write_mp4(rendered.frames, out_dir / f"{item_id}.mp4", fps)
                labels.append({"item_id": item_id, "path": f"{item_id}.mp4", "shape": shape, "direction": direction})
                item_index += 1
                progress()
    labels_csv = out_dir / "labels.csv"
    write_csv(pd.DataFrame(labels, columns=LABEL_COLUMNS), labels_csv)
    if bench.views_per_class > 0:
        render_views(world, bench, seed=seed, size=size, fps=fps, out_dir=out_dir, progress=progress)
    return labels_csv


def n_items(bench: DemoBenchmarkConfig) -> int:
    return len(bench.shapes) * len(bench.directions) * bench.clips_per_class + len(VIEWS) * bench.views_per_class
