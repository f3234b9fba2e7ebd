"""The demo world's violation-of-expectation (VoE) items: IntPhys-style quadruplets, two pairs each.

A quadruplet is one scene rendered twice from the same random stream ``[voe.seed, 5, property,
quadruplet]`` (never a training or benchmark stream): the same room, toys and camera, and a target that
slides behind a screen-fixed occluder and comes out on the other side, in one of two *conditions*:

- ``object_permanence``: condition 0 the target is there, condition 1 there is no target;
- ``continuity``: condition 1 travels the same path ``SHIFT`` frame widths further on (it goes behind
  the occluder and comes out earlier);
- ``shape_constancy``: condition 1 is another shape (same size, colour and path);
- ``colour_constancy``: condition 1 has the complementary hue (same shape and path).

Both conditions are possible movies (``A`` and ``B``). While the target is completely hidden in both,
the two renders are the same picture; the impossible movies are spliced there, as IntPhys builds
them: ``A|B`` is A up to that frame and B from it on, ``B|A`` the converse. Pairs share their
beginning: ``(A, A|B)`` and ``(B, B|A)``, each identical until the target comes out from behind the
occluder (the onset) and different in every frame after it. So the possible and the impossible movies
of a quadruplet show the same frames — only which beginning goes with which end differs — and a
learner that does not relate what went behind the occluder to what came out of it sits at chance
(exactly 0.5 for any surprise that adds up frame by frame, e.g. the pixel change between consecutive
frames; docs/voe.md "The demo's balanced design").

The renderer draws ``frames * data.clip.frame_step`` frames at ``demo.size`` and ``demo.fps`` and
keeps every ``frame_step``-th frame, resized exactly like the clip cache (``datasets.decode``), so a
VoE clip has the pixel statistics of a training clip. Clips go straight into an uncompressed clip
cache: an H.264 round trip would let a difference after the onset leak into earlier decoded frames.
The pairs are checked on the stored frames (``devcurriculum.voe_onset.check_pair_frames``).
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

#: target shapes of the quadruplets (the rest of WORLD_SHAPES appear as static distractor toys)
TARGET_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
RADIUS = (0.06, 0.075)  # the target's radius range, frame widths
SHIFT = 0.1  # continuity: frame widths condition 1 is ahead on the same path
HIDE_AT = 0.35  # the target is completely behind the occluder (both conditions) from this fraction of the clip
EXTENT = 1.4  # every target shape lies within this many radii of its centre (the bar: 1.36)
ATTEMPTS = 4  # designs tried per quadruplet before giving up (a draw can leave the conditions alike too long)


@dataclass(frozen=True)
class Occluder:
    """A screen-fixed vertical panel from the top to the bottom of the frame, drawn over the target."""

    left: float
    right: float
    colour: RGB

    def draw(self, draw: ImageDraw.ImageDraw, size: int) -> None:
        draw.rectangle((self.left, -1, self.right, size), fill=self.colour, outline=darker(self.colour, 0.55))


@dataclass(frozen=True)
class VoETarget(MovingTarget):
    """The target of a quadruplet in ``condition`` 0 or 1 (module docstring), with its occluder on top."""

    prop: str = "continuity"
    condition: int = 0
    shift: float = 0.0
    other_shape: str = "square"
    other_colour: RGB = (0, 0, 0)
    occluder: Occluder | None = None
    frame_size: int = 0

    def centre(self, t: int) -> tuple[float, float]:
        """Where the target is at frame ``t`` (continuity's condition 1 is ``shift`` further on)."""
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        if self.condition and self.prop == "continuity":
            x += math.copysign(self.shift, self.velocity[0])
        return x, y

    @property
    def present(self) -> bool:
        return not (self.condition and self.prop == "object_permanence")

    def draw(self, draw: ImageDraw.ImageDraw, t: int) -> tuple[float, float]:
        x, y = self.centre(t)
        if self.present:
            shape = self.other_shape if self.condition and self.prop == "shape_constancy" else self.shape
            colour = self.other_colour if self.condition and self.prop == "colour_constancy" else self.colour
            draw_shape(draw, shape, x, y, self.radius, colour, self.angle)
        if self.occluder is not None:
            self.occluder.draw(draw, self.frame_size)
        return x, y


def complementary(colour: RGB) -> RGB:
    """The colour with its hue turned half-way round the wheel (same saturation and value)."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    r, g, b = colorsys.hsv_to_rgb((h + 0.5) % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def design_target(prop: str, *, size: int, n_render: int, frame_step: int, rng: np.random.Generator) -> VoETarget:
    """Condition 0 of one quadruplet's target (``replace(target, condition=1)`` is condition 1).

    The target touches the occluder at frame 0, is completely behind it in both conditions from
    ``HIDE_AT`` of the clip for ``frame_step + 1`` rendered frames (so at least one stored frame shows
    only the occluder), then comes out and stays in the frame to the end.
    """
    shift = SHIFT * size if prop == "continuity" else 0.0
    hide_at = max(round(HIDE_AT * (n_render - 1)), 1)
    # the whole path (start touching the panel, behind it at hide_at, to the end, ahead by shift) must fit
    # in the frame: 2 reach + (n_render - 1) (2 reach + 2) / hide_at + shift <= size - 3
    per_frame = (n_render - 1) / hide_at
    fits = (size - 3 - shift - 2 * per_frame) / (2 + 2 * per_frame) / EXTENT
    radius = min(float(rng.uniform(*RADIUS) * size), fits)
    if radius < 1.0:
        raise ValueError(f"{prop}: no target of a pixel's radius can pass an occluder in a {size}-px frame over "
                         f"{n_render} frames; raise demo.size")
    reach = EXTENT * radius
    shape, other_shape = (str(s) for s in rng.choice(TARGET_SHAPES, size=2, replace=False))
    colour = random_colour(rng, (0.6, 1.0), (0.7, 1.0))
    speed = (2 * reach + 2) / hide_at  # from touching the panel to behind it in hide_at frames
    width = 2 * reach + 2 + (frame_step + 1) * speed + shift
    # the occluder's left edge: the target starts whole in the frame (touching the panel) and ends, ahead
    # by shift in condition 1, still whole in it
    lo = 2 * reach + 2
    hi = max(size - 1 - (n_render - 1) * speed - shift, lo)
    left = float(rng.uniform(lo, hi))
    start = left - 1 - reach
    sign = 1.0 if rng.random() < 0.5 else -1.0
    occluder = Occluder(left, left + width, random_colour(rng, (0.1, 0.4), (0.3, 0.8)))
    if sign < 0:  # mirrored: the target comes from the right
        occluder = Occluder(size - 1 - occluder.right, size - 1 - occluder.left, occluder.colour)
        start = size - 1 - start
    return VoETarget(
        shape=shape, colour=colour, radius=radius, angle=float(rng.uniform(0, 2 * math.pi)),
        start=(start, float(rng.uniform(0.3, 0.7) * size)), velocity=(sign * speed, 0.0), prop=prop, shift=shift,
        other_shape=other_shape, other_colour=complementary(colour), occluder=occluder, frame_size=size,
    )


@dataclass(frozen=True)
class VoEPair:
    """One pair: the two uint8 ``(frames, S, S, 3)`` clips, identical before ``onset``, and its quadruplet."""

    prop: str
    index: int
    possible: np.ndarray
    impossible: np.ndarray
    onset: int
    target: VoETarget
    quadruplet: int = 0


@dataclass(frozen=True)
class VoEQuadruplet:
    """The two possible movies ``a`` (condition 0) and ``b`` (condition 1), spliced at stored frame ``splice``."""

    prop: str
    index: int
    a: np.ndarray
    b: np.ndarray
    splice: int
    target: VoETarget

    @property
    def a_then_b(self) -> np.ndarray:
        return np.concatenate([self.a[: self.splice], self.b[self.splice :]])

    @property
    def b_then_a(self) -> np.ndarray:
        return np.concatenate([self.b[: self.splice], self.a[self.splice :]])

    def pairs(self) -> list[VoEPair]:
        """``(A, A|B)`` and ``(B, B|A)``, checked: identical up to the onset, different in every frame after it."""
        out = []
        for k, (possible, impossible) in enumerate(((self.a, self.a_then_b), (self.b, self.b_then_a))):
            where = f"demo VoE quadruplet {self.prop} #{self.index}, pair {'AB'[k]}"
            onset = check_pair_frames(possible, impossible, where=where)
            out.append(VoEPair(self.prop, 2 * self.index + k, possible, impossible, onset, self.target, self.index))
        return out


def _splice_frame(a: np.ndarray, b: np.ndarray) -> int | None:
    """The first stored frame after the beginning at which the two renders are the same picture."""
    same = [t for t in range(1, len(a)) if np.array_equal(a[t], b[t])]
    return same[0] if same else None


def render_voe_quadruplet(
    world: World, prop: str, index: int, *, voe: DemoVoESource, clip: ClipConfig, size: int, fps: float
) -> VoEQuadruplet:
    """Render quadruplet ``index`` of property ``prop``: the same scene with the target in both conditions."""
    from devcurriculum.datasets.decode import resize_short_side_and_center_crop

    if voe.frames is None:
        raise ValueError("voe.sets.<name>.frames: null is filled in by WorkflowConfig (the longest window + "
                         "voe.window_stride); pass a set with its frames")
    stream = (voe.seed, STREAM_VOE, DEMO_VOE_PROPERTIES.index(prop), index)
    n_render = voe.frames * clip.frame_step
    problem = ""
    for attempt in range(ATTEMPTS):
        design = stream_rng(*stream, 0) if attempt == 0 else stream_rng(*stream, 1 + attempt)
        lo, hi = world.age_span
        stats = world.at_age(float(design.uniform(lo, hi)))
        target = design_target(prop, size=size, n_render=n_render, frame_step=clip.frame_step, rng=design)
        distractors = tuple(s for s in WORLD_SHAPES if s not in {target.shape, target.other_shape})
        clips = []
        for condition in (0, 1):
            rendered = render_scene(
                stats, n_frames=n_render, size=size, fps=fps, rng=stream_rng(*stream, 1), people=[],
                hand_skin=(0, 0, 0), faces=False, hands=False, object_motion=False, object_shapes=distractors,
                camera_scale=voe.camera_scale, target=replace(target, condition=condition), measure=False,
            )
            clips.append(resize_short_side_and_center_crop(rendered.frames[:: clip.frame_step], clip.size))
        splice = _splice_frame(clips[0], clips[1])
        if splice is None:
            problem = "the two conditions never show the same picture (the target is never hidden in both)"
            continue
        quadruplet = VoEQuadruplet(prop, index, clips[0], clips[1], splice, target)
        try:
            quadruplet.pairs()
        except ValueError as exc:  # e.g. the conditions look alike in a frame after the onset at this size
            problem = str(exc)
            continue
        return quadruplet
    raise ValueError(f"demo VoE quadruplet {prop} #{index} at data.clip.size={clip.size}: no valid design in "
                     f"{ATTEMPTS} attempts ({problem})")


def render_voe_quadruplets(
    voe: DemoVoESource, *, world: DemoWorldConfig, age_groups: Mapping[str, tuple[float, float]], clip: ClipConfig,
    size: int, fps: float,
) -> list[VoEQuadruplet]:
    """Every quadruplet of a demo VoE set: ``pairs_per_property / 2`` per property, properties in config order."""
    demo_world = World.from_config(world, age_groups)
    return [
        render_voe_quadruplet(demo_world, prop, q, voe=voe, clip=clip, size=size, fps=fps)
        for prop in voe.properties
        for q in range(voe.pairs_per_property // 2)
    ]


def render_voe_pairs(
    voe: DemoVoESource, *, world: DemoWorldConfig, age_groups: Mapping[str, tuple[float, float]], clip: ClipConfig,
    size: int, fps: float,
) -> list[VoEPair]:
    """Every pair of a demo VoE set: ``pairs_per_property`` per property (two per quadruplet), in config order."""
    quadruplets = render_voe_quadruplets(voe, world=world, age_groups=age_groups, clip=clip, size=size, fps=fps)
    return [pair for quadruplet in quadruplets for pair in quadruplet.pairs()]
