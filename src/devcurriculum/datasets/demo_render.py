"""Drawing one procedural "head-camera" video of the demo world from a set of scene statistics.

This module knows nothing about ages, config or files: it turns a :class:`SceneStats` (the values of
every world statistic at one age, resolved by :mod:`devcurriculum.datasets.demo_world`) and a seeded
random generator into a uint8 ``(T, H, W, 3)`` frame array plus the statistics it actually rendered.

The scene, and why it is built this way:

- **Background**: a textured room larger than the frame (``CANVAS_SCALE`` frame widths on a side):
  wall, floor and rectangular surfaces (furniture, rugs, posters), each filled with one texture family
  (flat, stripes, checker, dots, grid, waves, noise), plus small clutter items. The frame is a crop of
  it, so camera motion is a pan over real structure, as in head-camera footage.
- **Camera (head) path**: an Ornstein-Uhlenbeck velocity (smooth pans with a 1 s correlation time)
  whose RMS speed is ``camera_speed``, reflected at the room's edges, plus white per-frame ``jitter``
  (head bobbing). Young infants' heads move slowly and little; older infants move fast and jerkily.
- **Objects** (toys): shapes in room coordinates, anchored near points the camera passes, drifting and
  spinning at ``object_speed``; a hand in contact carries its object.
- **Faces**: on/off episodes (a two-state Markov chain whose stationary on-fraction is
  ``face_fraction``). A face is held in view by the infant's gaze, so it stays near the centre of the
  frame and shakes only with the head jitter; it is a skin ellipse with hair, eyes (both when frontal,
  one plus a nose when in profile) and a mouth.
- **Hands**: on/off episodes too; a skin-coloured arm and palm with fingers enter from the bottom edge,
  reach for an object (probability ``hand_contact``) and then hold and move it, or hover free.
- **Benchmark target** (optional): one shape translating in a fixed direction across the frame, drawn
  on top of everything, so it is the most salient mover of its clip.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

WORLD_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "bar", "ring")
TEXTURE_FAMILIES: tuple[str, ...] = ("flat", "stripes", "checker", "dots", "grid", "waves", "noise")
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}

CANVAS_SCALE = 3  # room side in frame widths: room for the camera to pan before it reflects
CAMERA_TAU_S = 1.0  # correlation time of the head's velocity, seconds
OBJECT_RANGE = 0.35  # an object drifts at most this many frame widths from its anchor
REACH_S = 0.3  # a hand takes this long to enter from the bottom edge and reach its target
PALM_RADIUS = 0.09  # palm radius / frame side
ARM_WIDTH = 0.13  # forearm width / frame side
FACE_ASPECT = 0.78  # face width / face height
EDGE_THRESHOLD = 20.0  # grey-level step (0-255) counted as an edge by edge_density

# Skin and hair palettes for simulated people (a spread of tones; no identity is special).
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (250, 214, 190), (241, 194, 167), (224, 172, 138), (198, 134, 96), (160, 103, 68), (116, 72, 46),
)
HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (20, 20, 20), (40, 28, 20), (90, 60, 30), (150, 110, 60), (200, 170, 110), (120, 120, 120),
)
MOUTH_COLOUR = (150, 60, 65)
EYE_WHITE = (240, 240, 235)
PUPIL = (25, 20, 20)

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SceneStats:
    """Every world statistic at one age (see ``demo_world.WORLD_DEFAULTS`` for units and meaning)."""

    face_fraction: float
    face_episode_s: float
    face_scale: float
    face_frontal: float
    face_identities: float
    hand_fraction: float
    hand_episode_s: float
    hand_contact: float
    n_objects: float
    object_scale: float
    object_speed: float
    camera_speed: float
    camera_jitter: float
    clutter_density: float
    texture_families: float
    texture_regions: float
    texture_contrast: float
    texture_period: float


@dataclass(frozen=True)
class Person:
    """A simulated carer: the colours that make their face recognisably theirs."""

    skin: RGB
    hair: RGB


@dataclass(frozen=True)
class MovingTarget:
    """The labelled object of a benchmark clip: it translates at constant velocity in frame pixels."""

    shape: str
    colour: RGB
    radius: float
    angle: float
    start: tuple[float, float]
    velocity: tuple[float, float]


@dataclass
class RenderedVideo:
    """Frames plus what was actually drawn (fractions are over frames or over frame pixels)."""

    frames: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    target_track: np.ndarray | None = None  # (T, 2) screen x, y of a benchmark target's centre


# ----------------------------------------------------------------------------------------- helpers


def stochastic_round(value: float, rng: np.random.Generator) -> int:
    """Round so that the expected result equals ``value``: counts stay smooth functions of age."""
    low = math.floor(value)
    return int(low + (rng.random() < value - low))


def random_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def _darker(colour: RGB, factor: float) -> RGB:
    return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]


def make_people(count: int, rng: np.random.Generator) -> list[Person]:
    """``count`` (at least one) distinct-looking carers with slightly varied skin and hair colours."""
    people = []
    for _ in range(max(1, count)):
        skin = np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.integers(-10, 11, size=3)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
        people.append(Person(skin=tuple(int(c) for c in np.clip(skin, 0, 255)), hair=hair))  # type: ignore[arg-type]
    return people


def episodes(n_frames: int, fraction: float, mean_frames: float, rng: np.random.Generator) -> np.ndarray:
    """On/off episodes: a two-state Markov chain whose stationary on-probability is ``fraction``.

    Leaving the on state has probability 1/mean_frames per frame, so episodes last ``mean_frames`` on
    average; the off->on probability is set so that on / (on + off) equals ``fraction``.
    """
    if fraction <= 0.0:
        return np.zeros(n_frames, dtype=bool)
    if fraction >= 1.0:
        return np.ones(n_frames, dtype=bool)
    p_off = 1.0 / max(mean_frames, 1.0)
    p_on = min(1.0, p_off * fraction / (1.0 - fraction))
    draws = rng.random(n_frames)
    state = bool(rng.random() < fraction)
    out = np.empty(n_frames, dtype=bool)
    for t in range(n_frames):
        out[t] = state
        state = draws[t] >= p_off if state else draws[t] < p_on
    return out


# ------------------------------------------------------------------------------------------ shapes

_UNIT_POLYGONS: dict[str, np.ndarray] = {
    # Sizes chosen so every filled shape covers roughly the area of a circle of the same radius.
    "square": np.array([[-0.89, -0.89], [0.89, -0.89], [0.89, 0.89], [-0.89, 0.89]]),
    "triangle": 1.3 * np.array([[0.0, -1.0], [0.866, 0.5], [-0.866, 0.5]]),
    "cross": np.array(
        [
            [-0.33, -1.0], [0.33, -1.0], [0.33, -0.33], [1.0, -0.33], [1.0, 0.33], [0.33, 0.33],
            [0.33, 1.0], [-0.33, 1.0], [-0.33, 0.33], [-1.0, 0.33], [-1.0, -0.33], [-0.33, -0.33],
        ]
    ),
    "bar": np.array([[-1.3, -0.4], [1.3, -0.4], [1.3, 0.4], [-1.3, 0.4]]),
}


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, radius: float, colour: RGB, angle: float
) -> None:
    """Draw a filled toy shape with a darker rim (the rim gives it an edge on any background)."""
    rim = _darker(colour, 0.55)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour, outline=rim)
    elif shape == "ring":
        width = max(2, round(radius * 0.4))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=width)
    elif shape in _UNIT_POLYGONS:
        c, s = math.cos(angle), math.sin(angle)
        pts = _UNIT_POLYGONS[shape] @ np.array([[c, s], [-s, c]]) * radius + (cx, cy)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=colour, outline=rim)
    else:
        raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(WORLD_SHAPES)}")


# -------------------------------------------------------------------------------------- background


def _texture_mask(family: str, h: int, w: int, period: float, rng: np.random.Generator) -> np.ndarray | None:
    """Where the second colour of a texture goes: a bool or [0, 1] float (h, w) map; None = flat."""
    if family == "flat":
        return None
    yy = np.arange(h, dtype=np.float32)[:, None] + rng.uniform(0, period)
    xx = np.arange(w, dtype=np.float32)[None, :] + rng.uniform(0, period)
    if family == "stripes":
        theta = rng.uniform(0, math.pi)
        return ((xx * math.cos(theta) + yy * math.sin(theta)) / period % 1.0) < 0.5
    if family == "checker":
        return ((xx // (period / 2) + yy // (period / 2)) % 2) == 0
    if family == "dots":
        half = period / 2
        return ((xx % period - half) ** 2 + (yy % period - half) ** 2) < (0.3 * period) ** 2
    if family == "grid":
        line = max(1.0, 0.15 * period)
        return (xx % period < line) | (yy % period < line)
    if family == "waves":
        return np.sin(2 * math.pi * (xx / period + 0.3 * np.sin(2 * math.pi * yy / (2 * period)))) > 0
    if family == "noise":
        cell = max(1, round(period / 2))
        coarse = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
        return np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]
    raise ValueError(f"unknown texture family {family!r}; known: {', '.join(TEXTURE_FAMILIES)}")


def _fill_region(
    canvas: np.ndarray, box: tuple[int, int, int, int], family: str, contrast: float, period: float,
    rng: np.random.Generator,
) -> None:
    """Fill ``canvas[y0:y1, x0:x1]`` with a two-colour texture (colours as floats in [0, 1])."""
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return
    base = np.asarray(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.35, 0.9)))
    # The second colour is the base moved towards black or white by ``contrast``, whichever has room.
    second = base * (1 - contrast) if base.mean() > 0.5 else base + (1 - base) * contrast
    mask = _texture_mask(family, y1 - y0, x1 - x0, period, rng)
    if mask is None:
        canvas[y0:y1, x0:x1] = base
    else:
        canvas[y0:y1, x0:x1] = base + (second - base) * mask.astype(np.float32)[..., None]


def make_background(stats: SceneStats, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """The room: (C, C, 3) uint8 with C = CANVAS_SCALE * size, and the counts it was built with.

    "flat" is always in a scene's texture pool, so a scene with one family is untextured: the youngest
    infants' scenes are plain, the oldest mix several patterned surfaces.
    """
    side = CANVAS_SCALE * size
    n_families = min(len(TEXTURE_FAMILIES), max(1, stochastic_round(stats.texture_families, rng)))
    patterned = list(rng.choice(np.array(TEXTURE_FAMILIES[1:]), size=n_families - 1, replace=False))
    pool = ["flat", *patterned]
    n_regions = max(1, stochastic_round(stats.texture_regions, rng))
    period = max(2.0, stats.texture_period * size)
    canvas = np.empty((side, side, 3), dtype=np.float32)

    def pick() -> str:
        return pool[rng.integers(len(pool))]

    _fill_region(canvas, (0, side, 0, side), pick(), stats.texture_contrast, period, rng)  # wall
    if n_regions >= 2:  # floor below a horizon
        horizon = int(rng.uniform(0.45, 0.65) * side)
        _fill_region(canvas, (horizon, side, 0, side), pick(), stats.texture_contrast, period, rng)
    for _ in range(n_regions - 2):  # furniture, rugs, posters
        h, w = (rng.uniform(0.12, 0.45, size=2) * side).astype(int)
        y0, x0 = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
        _fill_region(canvas, (y0, y0 + h, x0, x0 + w), pick(), stats.texture_contrast, period, rng)

    image = Image.fromarray(np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    n_clutter = stochastic_round(stats.clutter_density * CANVAS_SCALE**2, rng)
    for _ in range(n_clutter):
        cx, cy = rng.uniform(0, side, size=2)
        half = rng.uniform(0.015, 0.05) * size
        colour = random_colour(rng, (0.2, 0.8), (0.2, 0.95))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle((cx - half, cy - half * rng.uniform(0.4, 1.0), cx + half, cy + half), fill=colour)
        elif kind == 1:
            draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=colour)
        else:
            dx, dy = rng.normal(size=2) * 2 * half
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=colour, width=max(1, int(half / 2)))
    info = {"texture_families": float(n_families), "texture_regions": float(n_regions), "clutter_items": float(n_clutter)}
    return np.asarray(image), info


# ------------------------------------------------------------------------------------------ camera


def camera_path(
    stats: SceneStats, n_frames: int, size: int, fps: float, rng: np.random.Generator, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left crop corners (T, 2) int (x, y) in the room, and the jitter part of them (T, 2) float.

    The smooth part is an OU velocity with RMS ``camera_speed`` frame widths per second; the jitter is
    white noise of std ``camera_jitter`` frame widths per frame. ``scale`` shrinks both (benchmark).
    """
    limit = float(CANVAS_SCALE * size - size)
    a = math.exp(-1.0 / (CAMERA_TAU_S * fps))
    sigma_v = stats.camera_speed * size / fps * scale
    noise = rng.standard_normal((n_frames, 2))
    pos = limit / 2 + rng.uniform(-0.25, 0.25, size=2) * limit
    vel = rng.standard_normal(2) * sigma_v
    smooth = np.empty((n_frames, 2))
    for t in range(n_frames):
        smooth[t] = pos
        vel = a * vel + math.sqrt(1 - a * a) * sigma_v * noise[t]
        pos = pos + vel
        for axis in range(2):  # the head turns back at the room's edges
            if pos[axis] < 0:
                pos[axis], vel[axis] = -pos[axis], -vel[axis]
            elif pos[axis] > limit:
                pos[axis], vel[axis] = 2 * limit - pos[axis], -vel[axis]
    jitter = rng.standard_normal((n_frames, 2)) * stats.camera_jitter * size * scale
    corners = np.clip(np.rint(smooth + jitter), 0, limit).astype(np.int64)
    return corners, corners - smooth


# ----------------------------------------------------------------------------------- faces & hands


def _draw_face(
    draw: ImageDraw.ImageDraw, mask: ImageDraw.ImageDraw, person: Person, cx: float, cy: float, height: float,
    frontal: bool, side: int,
) -> None:
    """A carer's face; ``mask`` receives the skin ellipse (the face pixels that are measured)."""
    width = FACE_ASPECT * height
    hx, hy = 0.54 * width, 0.5 * height
    draw.ellipse((cx - hx, cy - 0.12 * height - 0.47 * height, cx + hx, cy - 0.12 * height + 0.47 * height), fill=person.hair)
    face_box = (cx - width / 2, cy - hy, cx + width / 2, cy + hy)
    draw.ellipse(face_box, fill=person.skin)
    mask.ellipse(face_box, fill=255)
    eye = max(1.0, 0.05 * height)
    eye_y = cy - 0.05 * height
    eyes_x = [cx - 0.2 * width, cx + 0.2 * width] if frontal else [cx + side * 0.22 * width]
    for ex in eyes_x:
        draw.ellipse((ex - 1.7 * eye, eye_y - 1.1 * eye, ex + 1.7 * eye, eye_y + 1.1 * eye), fill=EYE_WHITE)
        draw.ellipse((ex - eye, eye_y - eye, ex + eye, eye_y + eye), fill=PUPIL)
    if frontal:
        mx, mw = cx, 0.15 * width
    else:  # profile: the nose breaks the outline on the side the face is turned to
        nx = cx + side * 0.48 * width
        draw.ellipse((nx - 0.08 * height, cy - 0.02 * height, nx + 0.08 * height, cy + 0.12 * height), fill=person.skin)
        mx, mw = cx + side * 0.25 * width, 0.09 * width
    draw.ellipse((mx - mw, cy + 0.22 * height, mx + mw, cy + 0.28 * height), fill=MOUTH_COLOUR)


def _draw_hand(
    draw: ImageDraw.ImageDraw, mask: ImageDraw.ImageDraw, skin: RGB, sleeve: RGB, entry: tuple[float, float],
    palm: tuple[float, float], size: int,
) -> None:
    """An arm from the bottom edge (sleeve, then skin) ending in a palm with four fingers."""
    ex, ey = entry
    px, py = palm
    arm_w = max(2, int(ARM_WIDTH * size))
    mid = (ex + 0.45 * (px - ex), ey + 0.45 * (py - ey))
    for target in (draw, mask):
        fill = 255 if target is mask else skin
        target.line((ex, ey, px, py), fill=fill, width=arm_w)
    draw.line((ex, ey, mid[0], mid[1]), fill=sleeve, width=arm_w + 2)
    r = PALM_RADIUS * size
    ux, uy = px - ex, py - ey
    norm = math.hypot(ux, uy) or 1.0
    ux, uy = ux / norm, uy / norm
    fr = 0.38 * r
    for target in (draw, mask):
        fill = 255 if target is mask else skin
        target.ellipse((px - r, py - r, px + r, py + r), fill=fill)
        for k in (-1.5, -0.5, 0.5, 1.5):  # fingers fan out beyond the palm, away from the arm
            fx = px + ux * 1.05 * r - uy * k * 0.55 * r
            fy = py + uy * 1.05 * r + ux * k * 0.55 * r
            target.ellipse((fx - fr, fy - fr, fx + fr, fy + fr), fill=fill)


# ------------------------------------------------------------------------------------- measurement


def motion_energy(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames (grey levels 0-255): temporal complexity."""
    if len(frames) < 2:
        return 0.0
    grey = frames.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean())


def edge_density(frames: np.ndarray, threshold: float = EDGE_THRESHOLD) -> float:
    """Fraction of pixels whose horizontal or vertical grey step exceeds ``threshold``: clutter."""
    grey = frames.astype(np.float32).mean(axis=-1)
    gx = np.abs(np.diff(grey, axis=2))[:, :-1, :]
    gy = np.abs(np.diff(grey, axis=1))[:, :, :-1]
    return float(((gx > threshold) | (gy > threshold)).mean())


# ------------------------------------------------------------------------------------------- scene


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

    ``measure`` adds the pixel measures (motion energy, edge density) to the stats; they cost about a
    quarter of a short clip's render time, so callers that do not record them switch them off.
    """
    if n_frames < 1 or size < 2:
        raise ValueError(f"need n_frames >= 1 and size >= 2, got n_frames={n_frames}, size={size}")
    canvas, info = make_background(stats, size, rng)
    corners, jitter = camera_path(stats, n_frames, size, fps, rng, camera_scale)
    centre = corners.astype(np.float64) - jitter + size / 2  # smooth view centre in room coordinates

    # Objects: anchored near points of the camera path, so the camera meets them as it pans.
    n_obj = stochastic_round(stats.n_objects, rng) if object_shapes else 0
    anchors = centre[rng.integers(n_frames, size=n_obj)] + rng.uniform(-OBJECT_RANGE, OBJECT_RANGE, (n_obj, 2)) * size
    pos = anchors + rng.uniform(-0.5, 0.5, (n_obj, 2)) * OBJECT_RANGE * size
    radius = stats.object_scale * size / 2 * rng.uniform(0.75, 1.25, n_obj)
    heading = rng.uniform(0, 2 * math.pi, n_obj)
    speed = stats.object_speed * size / fps * rng.uniform(0.3, 1.7, n_obj) * (1.0 if object_motion else 0.0)
    vel = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]
    angle = rng.uniform(0, 2 * math.pi, n_obj)
    spin = rng.uniform(-1, 1, n_obj) * stats.object_speed * 4 / fps * (1.0 if object_motion else 0.0)
    shapes = [object_shapes[i] for i in rng.integers(len(object_shapes), size=n_obj)] if n_obj else []
    colours = [random_colour(rng, (0.55, 1.0), (0.5, 1.0)) for _ in range(n_obj)]

    face_on = episodes(n_frames, stats.face_fraction, stats.face_episode_s * fps, rng) if faces else np.zeros(n_frames, bool)
    hand_on = episodes(n_frames, stats.hand_fraction, stats.hand_episode_s * fps, rng) if hands else np.zeros(n_frames, bool)
    sleeve = random_colour(rng, (0.2, 0.7), (0.3, 0.9))
    reach = max(1, round(REACH_S * fps))

    frames = np.empty((n_frames, size, size, 3), dtype=np.uint8)
    track = np.empty((n_frames, 2)) if target is not None else None
    face_px = hand_px = 0
    contact_frames = 0
    face: dict | None = None
    hand: dict | None = None
    for t in range(n_frames):
        x0, y0 = corners[t]
        img = Image.fromarray(np.ascontiguousarray(canvas[y0 : y0 + size, x0 : x0 + size]))
        draw = ImageDraw.Draw(img)
        mask_img = Image.new("L", (size, size), 0)
        mask_face = ImageDraw.Draw(mask_img)
        shake = -jitter[t]

        # -- hand state: onset, reach, hold ------------------------------------------------------
        if hand_on[t] and hand is None:
            entry = (rng.uniform(0.15, 0.85) * size, 1.2 * size)
            held = None
            if n_obj and rng.random() < stats.hand_contact:
                screen = pos - corners[t]
                visible = np.flatnonzero(np.all((screen > 0.1 * size) & (screen < 0.9 * size), axis=1))
                if visible.size:
                    held = int(visible[np.argmin(np.hypot(*(screen[visible] - entry).T))])
            hand = {
                "t0": t, "entry": entry, "held": held, "grab": None,
                "free": rng.uniform((0.2, 0.35), (0.8, 0.8)) * size,
                "freq": rng.uniform(0.4, 1.2) / fps * 2 * math.pi, "phase": rng.uniform(0, 2 * math.pi),
            }
        elif not hand_on[t]:
            hand = None

        # -- objects: drift and bounce around their anchors, unless held ---------------------------
        if n_obj:
            pos += vel
            angle += spin
            out = np.abs(pos - anchors) > OBJECT_RANGE * size
            vel[out] *= -1
            pos = np.clip(pos, anchors - OBJECT_RANGE * size, anchors + OBJECT_RANGE * size)
        palm = None
        touching = False
        if hand is not None:
            k = t - hand["t0"]
            held = hand["held"]
            if held is not None:
                grip = np.array([0.0, 0.6 * radius[held]])  # the hand grasps the object from below
                goal = pos[held] - corners[t] + grip
            else:
                goal = hand["free"]
            wiggle = 0.05 * size * np.array([math.sin(hand["freq"] * k + hand["phase"]), math.cos(0.7 * hand["freq"] * k)])
            if k < reach:
                frac = (k + 1) / reach
                palm = np.asarray(hand["entry"]) * (1 - frac) + goal * frac
            elif held is not None:
                if hand["grab"] is None:
                    hand["grab"] = goal
                palm = hand["grab"] + wiggle
                pos[held] = palm + corners[t] - grip  # the held object moves with the hand
                touching = True
            else:
                palm = goal + wiggle
            palm = palm + shake
            touching = touching or (held is not None and k == reach - 1)
        contact_frames += touching

        for i in range(n_obj):
            sx, sy = pos[i] - corners[t]
            if -radius[i] * 1.4 < sx < size + radius[i] * 1.4 and -radius[i] * 1.4 < sy < size + radius[i] * 1.4:
                draw_shape(draw, shapes[i], sx, sy, radius[i], colours[i], angle[i])

        # -- face: held near the centre by the infant's gaze, shakes with the head -----------------
        if face_on[t] and face is None:
            face = {
                "person": people[rng.integers(len(people))],
                "frontal": bool(rng.random() < stats.face_frontal),
                "side": int(rng.choice((-1, 1))),
                "height": stats.face_scale * size * rng.uniform(0.85, 1.15),
                "centre": np.array([0.5, 0.45]) * size + rng.uniform(-0.12, 0.12, 2) * size,
                "drift": rng.normal(0, 0.02, 2) * size / fps,
            }
        elif not face_on[t]:
            face = None
        if face is not None:
            face["centre"] = face["centre"] + face["drift"]
            fx, fy = face["centre"] + shake
            _draw_face(draw, mask_face, face["person"], fx, fy, face["height"], face["frontal"], face["side"])
            face_px += int(np.count_nonzero(np.asarray(mask_img)))

        if palm is not None and hand is not None:
            hand_mask_img = Image.new("L", (size, size), 0)
            _draw_hand(draw, ImageDraw.Draw(hand_mask_img), hand_skin, sleeve, hand["entry"], (palm[0], palm[1]), size)
            hand_px += int(np.count_nonzero(np.asarray(hand_mask_img)))

        if target is not None and track is not None:
            tx = target.start[0] + target.velocity[0] * t
            ty = target.start[1] + target.velocity[1] * t
            track[t] = (tx, ty)
            draw_shape(draw, target.shape, tx, ty, target.radius, target.colour, target.angle)

        frames[t] = np.asarray(img)

    n_pix = n_frames * size * size
    steps = np.hypot(*np.diff(corners, axis=0).T) if n_frames > 1 else np.zeros(1)
    stats_out = {
        "face_frames": float(face_on.mean()),
        "face_pixels": face_px / n_pix,
        "hand_frames": float(hand_on.mean()),
        "hand_pixels": hand_px / n_pix,
        "contact_frames": contact_frames / n_frames,
        "n_objects": float(n_obj),
        "camera_speed_px": float(steps.mean()),
        **info,
    }
    if measure:
        stats_out["motion_energy"] = motion_energy(frames)
        stats_out["edge_density"] = edge_density(frames)
    return RenderedVideo(frames=frames, stats=stats_out, target_track=track)
