"""Rendering one procedural "head-camera" video of the demo world from a set of scene statistics.

This module knows nothing about ages, config or files: it turns a :class:`SceneStats` (every world
statistic at one age) and a seeded random generator into a uint8 ``(T, H, W, 3)`` frame array plus
the statistics it actually rendered. The frame is a crop of the room (:mod:`.room`) that follows the
head camera (:mod:`.camera`); toys, a hand, a face and a benchmark target (:mod:`.actors`) are drawn
on top, in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from devcurriculum.demo.actors import REACH_S, Face, Hand, MovingTarget, Toys
from devcurriculum.demo.camera import camera_path
from devcurriculum.demo.draw import RGB, WORLD_SHAPES, Person, random_colour
from devcurriculum.demo.figures import episodes
from devcurriculum.demo.measure import edge_density, motion_energy
from devcurriculum.demo.room import make_background
from devcurriculum.demo.world import SceneStats


@dataclass
class RenderedVideo:
    """Frames plus what was actually drawn (fractions are over frames or over frame pixels)."""

    frames: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    target_track: np.ndarray | None = None  # (T, 2) screen x, y of a benchmark target's centre


@dataclass
class _Scene:
    """Everything fixed for a video before its first frame is drawn."""

    stats: SceneStats
    size: int
    fps: float
    canvas: np.ndarray
    corners: np.ndarray
    jitter: np.ndarray
    toys: Toys
    face_on: np.ndarray
    hand_on: np.ndarray
    people: Sequence[Person]
    hand_skin: RGB
    sleeve: RGB


@dataclass
class _Tally:
    """What the frames showed, summed over frames."""

    face_px: int = 0
    hand_px: int = 0
    contact_frames: int = 0


def _draw_frames(scene: _Scene, rng: np.random.Generator, target: MovingTarget | None) -> tuple[np.ndarray, _Tally, np.ndarray | None]:
    """Draw every frame in order: toys, then a face, then a hand, then the target on top."""
    size, n_frames = scene.size, len(scene.corners)
    reach = max(1, round(REACH_S * scene.fps))
    frames = np.empty((n_frames, size, size, 3), dtype=np.uint8)
    track = np.empty((n_frames, 2)) if target is not None else None
    tally = _Tally()
    face: Face | None = None
    hand: Hand | None = None
    for t in range(n_frames):
        corner = scene.corners[t]
        x0, y0 = corner
        img = Image.fromarray(np.ascontiguousarray(scene.canvas[y0 : y0 + size, x0 : x0 + size]))
        draw = ImageDraw.Draw(img)
        shake = -scene.jitter[t]
        if scene.hand_on[t] and hand is None:
            hand = Hand.enter(t, scene.toys, corner, scene.stats.hand_contact, scene.fps, rng)
        elif not scene.hand_on[t]:
            hand = None
        scene.toys.step()
        palm, touching = hand.pose(t, scene.toys, corner, reach, shake) if hand is not None else (None, False)
        tally.contact_frames += touching
        scene.toys.draw(draw, corner)
        if scene.face_on[t] and face is None:
            face = Face.enter(scene.people, scene.stats, size, scene.fps, rng)
        elif not scene.face_on[t]:
            face = None
        if face is not None:
            tally.face_px += face.draw(draw, shake, size)
        if palm is not None and hand is not None:
            tally.hand_px += hand.draw(draw, palm, scene.hand_skin, scene.sleeve, size)
        if target is not None and track is not None:
            track[t] = target.draw(draw, t)
        frames[t] = np.asarray(img)
    return frames, tally, track


def _rendered_stats(scene: _Scene, tally: _Tally, room_info: dict[str, float]) -> dict[str, float]:
    """The descriptive manifest columns of one video (``docs/demo_world.md``), in their column order."""
    n_frames, size = len(scene.corners), scene.size
    n_pix = n_frames * size * size
    steps = np.hypot(*np.diff(scene.corners, axis=0).T) if n_frames > 1 else np.zeros(1)
    return {
        "face_frames": float(scene.face_on.mean()),
        "face_pixels": tally.face_px / n_pix,
        "hand_frames": float(scene.hand_on.mean()),
        "hand_pixels": tally.hand_px / n_pix,
        "contact_frames": tally.contact_frames / n_frames,
        "n_objects": float(scene.toys.count),
        "camera_speed_px": float(steps.mean()),
        **room_info,
    }


def render_scene(
    stats: SceneStats,
    *,
    n_frames: int,
    size: int,
    fps: float,
    rng: np.random.Generator,
    people: Sequence[Person],
    hand_skin: RGB,
    faces: bool = True,
    hands: bool = True,
    object_motion: bool = True,
    object_shapes: Sequence[str] = WORLD_SHAPES,
    camera_scale: float = 1.0,
    target: MovingTarget | None = None,
    measure: bool = True,
) -> RenderedVideo:
    """Render one video; every random choice comes from ``rng`` (same generator state, same frames).

    ``faces``/``hands`` switch those episodes off, ``object_motion`` freezes the toys, ``object_shapes``
    are the toys' possible shapes (none: no toys), ``camera_scale`` shrinks the head motion and
    ``target`` adds a benchmark target. ``measure`` adds the pixel measures (motion energy, edge
    density) to the stats; they cost about a quarter of a short clip's render time, so callers that
    do not record them switch them off.
    """
    if n_frames < 1 or size < 2:
        raise ValueError(f"need n_frames >= 1 and size >= 2, got n_frames={n_frames}, size={size}")
    canvas, room_info = make_background(stats, size, rng)
    corners, jitter = camera_path(stats, n_frames, size, fps, rng, camera_scale)
    centre = corners.astype(np.float64) - jitter + size / 2  # smooth view centre in room coordinates
    toys = Toys.place(stats, centre, size=size, fps=fps, rng=rng, shapes=object_shapes, moving=object_motion)
    no_episodes = np.zeros(n_frames, bool)
    face_on = episodes(n_frames, stats.face_fraction, stats.face_episode_s * fps, rng) if faces else no_episodes
    hand_on = episodes(n_frames, stats.hand_fraction, stats.hand_episode_s * fps, rng) if hands else no_episodes
    sleeve = random_colour(rng, (0.2, 0.7), (0.3, 0.9))
    scene = _Scene(stats, size, fps, canvas, corners, jitter, toys, face_on, hand_on, people, hand_skin, sleeve)
    frames, tally, track = _draw_frames(scene, rng, target)
    stats_out = _rendered_stats(scene, tally, room_info)
    if measure:
        stats_out["motion_energy"] = motion_energy(frames)
        stats_out["edge_density"] = edge_density(frames)
    return RenderedVideo(frames=frames, stats=stats_out, target_track=track)
