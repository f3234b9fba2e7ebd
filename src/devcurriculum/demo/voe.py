"""The demo world's violation-of-expectation (VoE) pairs: one event shown possible and impossible.

A pair is one scene rendered twice from the same random stream ``[voe.seed, 5, property, pair]``
(never a training or benchmark stream), so both clips have the same room, toys, camera path and
target up to the violation; only the target's behaviour after the event differs:

- ``object_permanence``: the target slides behind a screen-fixed occluder; possible: it comes out
  on the other side; impossible: it does not (it is no longer drawn from the first frame in which
  it is completely hidden, so nothing changes on screen until the possible one re-emerges);
- ``continuity``: impossible: at the event frame it jumps ``JUMP`` frame widths ahead and goes on;
- ``shape_constancy`` / ``colour_constancy``: impossible: at the event frame it turns into another
  shape (same size and colour) / the complementary hue (same shape), and goes on moving.

The renderer draws ``frames * data.clip.frame_step`` frames at ``demo.size`` and ``demo.fps`` and
keeps every ``frame_step``-th frame, resized exactly like the clip cache (``datasets.decode``), so a
VoE clip has the pixel statistics of a training clip. Clips are returned as arrays and go straight
into an uncompressed clip cache: an H.264 round trip would break the pairing invariant, because
inter-frame prediction lets a difference after the onset leak into earlier decoded frames.

The onset is the first stored frame at which the two clips differ; the renderer checks that every
later frame differs too (``devcurriculum.voe_onset.check_pair_frames``).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import ImageDraw

from devcurriculum.config import DEMO_VOE_PROPERTIES, ClipConfig, DemoVoESource, DemoWorldConfig
from devcurriculum.demo.actors import MovingTarget
from devcurriculum.demo.draw import RGB, WORLD_SHAPES, darker, draw_shape, random_colour
from devcurriculum.demo.scene import render_scene
from devcurriculum.demo.world import STREAM_VOE, World, stream_rng
from devcurriculum.voe_onset import check_pair_frames

#: target shapes of the pairs (the rest of WORLD_SHAPES appear as static distractor toys)
TARGET_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
#: frame widths the target crosses during a clip, and its radius range in frame widths: the target
#: of object permanence is smaller and faster, so it is well visible before and after the occluder
TRAVEL: dict[str, float] = {"object_permanence": 0.6}
RADIUS: dict[str, tuple[float, float]] = {"object_permanence": (0.07, 0.09)}
DEFAULT_TRAVEL, DEFAULT_RADIUS = 0.35, (0.09, 0.13)
JUMP = 0.18  # continuity: frame widths skipped at the event
EVENT_AT = 0.45  # the event happens at this fraction of the clip
PERMANENCE_AT = 0.35  # object permanence: the target passes the occluder's middle at this fraction of the clip
HIDDEN = 0.06  # object permanence: frame widths of travel during which the target is fully behind the occluder
EXTENT = 1.4  # every target shape lies within this many radii of its centre (the bar: 1.36)


@dataclass(frozen=True)
class Occluder:
    """A screen-fixed vertical panel from the top to the bottom of the frame, drawn over the target."""

    left: float
    right: float
    colour: RGB

    def draw(self, draw: ImageDraw.ImageDraw, size: int) -> None:
        draw.rectangle((self.left, -1, self.right, size), fill=self.colour, outline=darker(self.colour, 0.55))

    def hides(self, x: float, reach: float) -> bool:
        """Whether a shape centred at ``x`` reaching ``reach`` pixels sideways is entirely behind the panel."""
        return self.left + 1 <= x - reach and x + reach <= self.right - 1


@dataclass(frozen=True)
class VoETarget(MovingTarget):
    """A moving target that, when ``impossible``, violates ``prop`` from rendered frame ``event_frame`` on."""

    prop: str = "continuity"
    impossible: bool = False
    event_frame: int = 0
    jump: float = 0.0
    other_shape: str = "square"
    other_colour: RGB = (0, 0, 0)
    occluder: Occluder | None = None
    frame_size: int = 0

    def centre(self, t: int) -> tuple[float, float]:
        """Where the target is at frame ``t`` (the impossible continuity target is ``jump`` further on)."""
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        if self.violated(t) and self.prop == "continuity":
            x += math.copysign(self.jump, self.velocity[0])
        return x, y

    def violated(self, t: int) -> bool:
        return self.impossible and t >= self.event_frame

    def draw(self, draw: ImageDraw.ImageDraw, t: int) -> tuple[float, float]:
        x, y = self.centre(t)
        violated = self.violated(t)
        if not (violated and self.prop == "object_permanence"):
            shape = self.other_shape if violated and self.prop == "shape_constancy" else self.shape
            colour = self.other_colour if violated and self.prop == "colour_constancy" else self.colour
            draw_shape(draw, shape, x, y, self.radius, colour, self.angle)
        if self.occluder is not None:
            self.occluder.draw(draw, self.frame_size)
        return x, y


def complementary(colour: RGB) -> RGB:
    """The colour with its hue turned half-way round the wheel (same saturation and value)."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    r, g, b = colorsys.hsv_to_rgb((h + 0.5) % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _path(prop: str, size: int, n_render: int, radius: float, rng: np.random.Generator) -> tuple[tuple[float, float], float]:
    """A horizontal path (start, x velocity) whose every frame keeps the target inside the frame."""
    travel = TRAVEL.get(prop, DEFAULT_TRAVEL) * size
    span = travel + (JUMP * size if prop == "continuity" else 0.0)
    margin = EXTENT * radius + 1
    sign = 1.0 if rng.random() < 0.5 else -1.0
    lo, hi = (margin, size - margin - span) if sign > 0 else (margin + span, size - margin)
    start = (float(rng.uniform(lo, hi)), float(rng.uniform(0.3, 0.7) * size))
    return start, sign * travel / max(n_render - 1, 1)


def _occluder(start: float, vx: float, radius: float, size: int, n_render: int, rng: np.random.Generator) -> Occluder:
    """A panel centred on the target's path at ``PERMANENCE_AT`` of the clip, wide enough to hide it for
    ``HIDDEN`` frame widths of travel."""
    centre = start + vx * PERMANENCE_AT * (n_render - 1)
    half = EXTENT * radius + 1 + HIDDEN * size / 2
    return Occluder(centre - half, centre + half, random_colour(rng, (0.1, 0.4), (0.3, 0.8)))


def design_target(prop: str, *, size: int, n_render: int, rng: np.random.Generator) -> VoETarget:
    """The possible version of one pair's target (``replace(target, impossible=True)`` is its partner)."""
    radius = float(rng.uniform(*RADIUS.get(prop, DEFAULT_RADIUS)) * size)
    shape, other_shape = (str(s) for s in rng.choice(TARGET_SHAPES, size=2, replace=False))
    colour = random_colour(rng, (0.6, 1.0), (0.7, 1.0))
    start, vx = _path(prop, size, n_render, radius, rng)
    target = VoETarget(
        shape=shape, colour=colour, radius=radius, angle=float(rng.uniform(0, 2 * math.pi)), start=start,
        velocity=(vx, 0.0), prop=prop, event_frame=round(EVENT_AT * (n_render - 1)), jump=JUMP * size,
        other_shape=other_shape, other_colour=complementary(colour), frame_size=size,
    )
    if prop != "object_permanence":
        return target
    occluder = _occluder(start[0], vx, radius, size, n_render, rng)
    hidden = [t for t in range(n_render) if occluder.hides(target.centre(t)[0], EXTENT * radius)]
    if not hidden:
        raise ValueError(f"object_permanence: the target is never fully behind the occluder at {size} px")
    return replace(target, occluder=occluder, event_frame=hidden[0])


@dataclass(frozen=True)
class VoEPair:
    """One rendered pair: the two uint8 ``(frames, S, S, 3)`` clips, identical before ``onset``, and its design."""

    prop: str
    index: int
    possible: np.ndarray
    impossible: np.ndarray
    onset: int
    target: VoETarget


def render_voe_pair(
    world: World, prop: str, index: int, *, voe: DemoVoESource, clip: ClipConfig, size: int, fps: float
) -> VoEPair:
    """Render pair ``index`` of property ``prop``: the same scene with the possible and the impossible target."""
    from devcurriculum.datasets.decode import resize_short_side_and_center_crop

    stream = (voe.seed, STREAM_VOE, DEMO_VOE_PROPERTIES.index(prop), index)
    design = stream_rng(*stream, 0)
    lo, hi = world.age_span
    stats = world.at_age(float(design.uniform(lo, hi)))
    n_render = voe.frames * clip.frame_step
    target = design_target(prop, size=size, n_render=n_render, rng=design)
    distractors = tuple(s for s in WORLD_SHAPES if s not in {target.shape, target.other_shape})
    clips = []
    for impossible in (False, True):
        rendered = render_scene(
            stats, n_frames=n_render, size=size, fps=fps, rng=stream_rng(*stream, 1), people=[], hand_skin=(0, 0, 0),
            faces=False, hands=False, object_motion=False, object_shapes=distractors, camera_scale=voe.camera_scale,
            target=replace(target, impossible=impossible), measure=False,
        )
        clips.append(resize_short_side_and_center_crop(rendered.frames[:: clip.frame_step], clip.size))
    where = f"demo VoE pair {prop} #{index} at data.clip.size={clip.size}"
    onset = check_pair_frames(clips[0], clips[1], where=where)
    return VoEPair(prop, index, clips[0], clips[1], onset, target)


def render_voe_pairs(
    voe: DemoVoESource, *, world: DemoWorldConfig, age_groups: Mapping[str, tuple[float, float]], clip: ClipConfig,
    size: int, fps: float,
) -> list[VoEPair]:
    """Every pair of a demo VoE set: ``pairs_per_property`` per property, properties in config order."""
    demo_world = World.from_config(world, age_groups)
    return [
        render_voe_pair(demo_world, prop, i, voe=voe, clip=clip, size=size, fps=fps)
        for prop in voe.properties
        for i in range(voe.pairs_per_property)
    ]
