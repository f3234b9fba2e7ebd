"""What moves in a demo scene besides the camera: toys, the child's hand, a carer's face, a benchmark target.

- **Toys**: shapes in room coordinates, anchored near points the camera passes (so the camera meets
  them as it pans), drifting and spinning at ``object_speed`` within ``OBJECT_RANGE`` of their anchor.
- **Hand**: enters from the bottom edge, reaches for the nearest visible toy (probability
  ``hand_contact``) in ``REACH_S`` and then holds and moves it, or hovers free.
- **Face**: held near the centre of the frame by the infant's gaze, so it shakes only with the head
  jitter and drifts slowly.
- **Target** (benchmark): one shape translating at constant velocity, drawn on top of everything.

Every random draw comes from the scene's generator, in a fixed order, so the same generator state
gives the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from devcurriculum.demo.draw import RGB, Person, draw_shape, random_colour, stochastic_round
from devcurriculum.demo.figures import draw_face, draw_hand
from devcurriculum.demo.world import SceneStats

OBJECT_RANGE = 0.35  # a toy drifts at most this many frame widths from its anchor
REACH_S = 0.3  # a hand takes this long to enter from the bottom edge and reach its target


@dataclass
class Toys:
    """Toys in room coordinates: anchors, positions, radii, velocities, angles, spins, shapes, colours."""

    anchors: np.ndarray
    pos: np.ndarray
    radius: np.ndarray
    vel: np.ndarray
    angle: np.ndarray
    spin: np.ndarray
    shapes: list[str]
    colours: list[RGB]
    size: int

    @classmethod
    def place(
        cls, stats: SceneStats, centre: np.ndarray, *, size: int, fps: float, rng: np.random.Generator,
        shapes: Sequence[str], moving: bool,
    ) -> Toys:
        """Toys anchored near points of the camera's smooth view ``centre`` (T, 2); none without ``shapes``."""
        n_frames = len(centre)
        n_obj = stochastic_round(stats.n_objects, rng) if shapes else 0
        anchors = centre[rng.integers(n_frames, size=n_obj)] + rng.uniform(-OBJECT_RANGE, OBJECT_RANGE, (n_obj, 2)) * size
        pos = anchors + rng.uniform(-0.5, 0.5, (n_obj, 2)) * OBJECT_RANGE * size
        radius = stats.object_scale * size / 2 * rng.uniform(0.75, 1.25, n_obj)
        heading = rng.uniform(0, 2 * math.pi, n_obj)
        speed = stats.object_speed * size / fps * rng.uniform(0.3, 1.7, n_obj) * (1.0 if moving else 0.0)
        vel = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]
        angle = rng.uniform(0, 2 * math.pi, n_obj)
        spin = rng.uniform(-1, 1, n_obj) * stats.object_speed * 4 / fps * (1.0 if moving else 0.0)
        chosen = [shapes[i] for i in rng.integers(len(shapes), size=n_obj)] if n_obj else []
        colours = [random_colour(rng, (0.55, 1.0), (0.5, 1.0)) for _ in range(n_obj)]
        return cls(anchors, pos, radius, vel, angle, spin, chosen, colours, size)

    @property
    def count(self) -> int:
        return len(self.shapes)

    def step(self) -> None:
        """One frame of drift and spin; a toy that strays too far from its anchor bounces back."""
        if not self.count:
            return
        self.pos += self.vel
        self.angle += self.spin
        out = np.abs(self.pos - self.anchors) > OBJECT_RANGE * self.size
        self.vel[out] *= -1
        self.pos = np.clip(self.pos, self.anchors - OBJECT_RANGE * self.size, self.anchors + OBJECT_RANGE * self.size)

    def nearest_visible(self, corner: np.ndarray, point: tuple[float, float]) -> int | None:
        """Index of the toy well inside the frame nearest to screen ``point``; None if none is."""
        screen = self.pos - corner
        visible = np.flatnonzero(np.all((screen > 0.1 * self.size) & (screen < 0.9 * self.size), axis=1))
        if not visible.size:
            return None
        return int(visible[np.argmin(np.hypot(*(screen[visible] - point).T))])

    def draw(self, draw: ImageDraw.ImageDraw, corner: np.ndarray) -> None:
        """Every toy that overlaps the frame whose top-left room corner is ``corner``."""
        size = self.size
        for i in range(self.count):
            sx, sy = self.pos[i] - corner
            r = self.radius[i]
            if -r * 1.4 < sx < size + r * 1.4 and -r * 1.4 < sy < size + r * 1.4:
                draw_shape(draw, self.shapes[i], sx, sy, r, self.colours[i], self.angle[i])


@dataclass
class Hand:
    """One hand episode: where the arm enters, the toy it holds (if any) and its idle wiggle."""

    t0: int
    entry: tuple[float, float]
    held: int | None
    free: np.ndarray
    freq: float
    phase: float
    grab: np.ndarray | None = None

    @classmethod
    def enter(
        cls, t: int, toys: Toys, corner: np.ndarray, contact: float, fps: float, rng: np.random.Generator
    ) -> Hand:
        size = toys.size
        entry = (rng.uniform(0.15, 0.85) * size, 1.2 * size)
        held = None
        if toys.count and rng.random() < contact:
            held = toys.nearest_visible(corner, entry)
        return cls(
            t0=t, entry=entry, held=held, free=rng.uniform((0.2, 0.35), (0.8, 0.8)) * size,
            freq=rng.uniform(0.4, 1.2) / fps * 2 * math.pi, phase=rng.uniform(0, 2 * math.pi),
        )

    def pose(self, t: int, toys: Toys, corner: np.ndarray, reach: int, shake: np.ndarray) -> tuple[np.ndarray, bool]:
        """The palm's screen position at frame ``t`` and whether the hand touches its toy.

        The hand reaches its goal in ``reach`` frames; a held toy then moves with the hand.
        """
        k = t - self.t0
        held = self.held
        if held is not None:
            grip = np.array([0.0, 0.6 * toys.radius[held]])  # the hand grasps the toy from below
            goal = toys.pos[held] - corner + grip
        else:
            goal = self.free
        wiggle = 0.05 * toys.size * np.array([math.sin(self.freq * k + self.phase), math.cos(0.7 * self.freq * k)])
        touching = False
        if k < reach:
            frac = (k + 1) / reach
            palm = np.asarray(self.entry) * (1 - frac) + goal * frac
        elif held is not None:
            if self.grab is None:
                self.grab = goal
            palm = self.grab + wiggle
            toys.pos[held] = palm + corner - grip
            touching = True
        else:
            palm = goal + wiggle
        touching = touching or (held is not None and k == reach - 1)
        return palm + shake, touching

    def draw(self, draw: ImageDraw.ImageDraw, palm: np.ndarray, skin: RGB, sleeve: RGB, size: int) -> int:
        """Draw the arm and hand; returns the number of frame pixels they cover."""
        mask = Image.new("L", (size, size), 0)
        draw_hand(draw, ImageDraw.Draw(mask), skin, sleeve, self.entry, (palm[0], palm[1]), size)
        return int(np.count_nonzero(np.asarray(mask)))


@dataclass
class Face:
    """One face episode: whose face, its pose, size, screen centre and slow drift."""

    person: Person
    frontal: bool
    side: int
    height: float
    centre: np.ndarray
    drift: np.ndarray

    @classmethod
    def enter(
        cls, people: Sequence[Person], stats: SceneStats, size: int, fps: float, rng: np.random.Generator
    ) -> Face:
        return cls(
            person=people[int(rng.integers(len(people)))],
            frontal=bool(rng.random() < stats.face_frontal),
            side=int(rng.choice((-1, 1))),
            height=stats.face_scale * size * rng.uniform(0.85, 1.15),
            centre=np.array([0.5, 0.45]) * size + rng.uniform(-0.12, 0.12, 2) * size,
            drift=rng.normal(0, 0.02, 2) * size / fps,
        )

    def draw(self, draw: ImageDraw.ImageDraw, shake: np.ndarray, size: int) -> int:
        """Drift one frame and draw; returns the number of frame pixels the face's skin covers."""
        self.centre = self.centre + self.drift
        fx, fy = self.centre + shake
        mask = Image.new("L", (size, size), 0)
        draw_face(draw, ImageDraw.Draw(mask), self.person, fx, fy, self.height, self.frontal, self.side)
        return int(np.count_nonzero(np.asarray(mask)))


@dataclass(frozen=True)
class MovingTarget:
    """The labelled object of a benchmark clip: it translates at constant velocity in frame pixels."""

    shape: str
    colour: RGB
    radius: float
    angle: float
    start: tuple[float, float]
    velocity: tuple[float, float]

    def draw(self, draw: ImageDraw.ImageDraw, t: int) -> tuple[float, float]:
        """Draw the target at frame ``t``; returns its centre."""
        tx = self.start[0] + self.velocity[0] * t
        ty = self.start[1] + self.velocity[1] * t
        draw_shape(draw, self.shape, tx, ty, self.radius, self.colour, self.angle)
        return tx, ty
