"""The demo world's object-contact-prediction (OCP) trials: a red ball rolls, a yellow ball rests; does
the red one touch the yellow one before the trial ends? (Physion's question, in the demo's rooms.)

A trial lives in normalised time ``tau``: the stored clip spans ``tau`` in [0, 1] (its first frame at 0,
its last at 1), the whole trial ``[0, trial]`` (``ocp.sets.<name>.trial`` clip lengths). Positions are
in frame widths. The red ball moves along a straight line from its start; the yellow ball rests at
along-line distance ``along`` and signed perpendicular offset ``offset``. They touch when the
centres come within the sum of the radii, i.e. when the red ball has travelled
``along - sqrt(R^2 - offset^2)`` (``R`` = sum of radii; never when ``|offset| >= R``).

Scenarios (labels balanced: items alternate touch / no touch, each half drawn from its own range):

- ``aim``: constant speed; the line passes through the yellow ball (``|offset|`` below ``0.5 R``) or
  beside it (``1.5 R`` to ``2.5 R``); the contact, or the closest approach, comes after the clip;
- ``speed``: aimed at the yellow ball (``|offset|`` below ``0.3 R``) and slowing down uniformly; it
  reaches the yellow ball while still moving (its stopping distance 1.15-1.8 x the distance to
  contact) or stops short (0.55-0.85 x), after the clip in both cases.

Nothing touches during the stored clip: the contact (or the closest approach, or the stop) lies at
least ``AFTER`` clip lengths after the last rendered frame, so the label must be predicted from the
motion, not seen. The whole clip, both balls and the gap between them stay inside the frame.

Each trial draws from its own stream ``[seed, 6, scenario, item]`` (never a training, benchmark or VoE
stream): a room of a random age (no clutter, no toys, no faces or hands), the ball sizes, colours
(red: hue within 0.03 of 0; yellow: 0.13-0.17) and the motion. Frames are rendered at ``demo.size``
and ``demo.fps`` for ``frames * frame_step`` frames, written as H.264 and decoded like a training video
(the same ``write_mp4`` settings and ``datasets.decode``), and every ``frame_step``-th frame is resized
exactly like the clip cache, so an OCP clip has the pixel statistics of a training clip.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ImageDraw

from devcurriculum.config import DEMO_OCP_SCENARIOS, ClipConfig, DemoOCPSource, DemoWorldConfig
from devcurriculum.demo.actors import MovingTarget
from devcurriculum.demo.draw import RGB, draw_shape
from devcurriculum.demo.scene import render_scene
from devcurriculum.demo.world import STREAM_OCP, World, stream_rng

#: clip lengths between the last rendered frame and the earliest contact, closest approach or stop
AFTER = 0.15
#: frame widths between a ball and the frame's edge (the whole clip), and the smallest gap a clip shows
MARGIN, MIN_GAP = 0.03, 0.04
AGENT_RADIUS, PATIENT_RADIUS = (0.07, 0.09), (0.09, 0.12)
#: the red ball's initial speed in frame widths per clip length
SPEED = (0.22, 0.4)
TRIES = 1000


@dataclass(frozen=True)
class OCPTrial:
    """One trial's design (frame widths, clip lengths): the line, the speeds, the balls and the label."""

    scenario: str
    touches: bool
    start: tuple[float, float]
    direction: tuple[float, float]
    speed: float
    decel: float
    along: float
    offset: float
    agent_radius: float
    patient_radius: float
    agent_colour: RGB
    patient_colour: RGB

    @property
    def reach(self) -> float:
        """Sum of the radii: the centre distance at which the balls touch."""
        return self.agent_radius + self.patient_radius

    @property
    def stop_time(self) -> float:
        """When the red ball stops (inf at constant speed)."""
        return self.speed / self.decel if self.decel > 0 else math.inf

    def travelled(self, tau: float) -> float:
        """Distance along the line at ``tau`` (uniform deceleration until it stops)."""
        t = min(max(tau, 0.0), self.stop_time)
        return self.speed * t - 0.5 * self.decel * t * t

    def agent_at(self, tau: float) -> tuple[float, float]:
        d = self.travelled(tau)
        return self.start[0] + self.direction[0] * d, self.start[1] + self.direction[1] * d

    @property
    def patient(self) -> tuple[float, float]:
        ux, uy = self.direction
        return (self.start[0] + ux * self.along - uy * self.offset, self.start[1] + uy * self.along + ux * self.offset)

    @property
    def contact_distance(self) -> float | None:
        """How far the red ball travels before touching (None: its line misses the yellow ball)."""
        if abs(self.offset) >= self.reach:
            return None
        return self.along - math.sqrt(self.reach**2 - self.offset**2)

    def contact_time(self, until: float) -> float | None:
        """The first ``tau`` in [0, ``until``] at which the balls touch, None if they never do."""
        distance = self.contact_distance
        if distance is None or self.travelled(until) < distance:
            return None
        if self.decel == 0:
            return distance / self.speed
        # speed * t - decel / 2 * t^2 = distance, the smaller root (before the stop)
        return (self.speed - math.sqrt(max(self.speed**2 - 2 * self.decel * distance, 0.0))) / self.decel

    def gap(self, tau: float) -> float:
        """Distance between the balls' edges at ``tau`` (frame widths)."""
        ax, ay = self.agent_at(tau)
        px, py = self.patient
        return math.hypot(ax - px, ay - py) - self.reach


@dataclass(frozen=True)
class OCPActors(MovingTarget):
    """The two balls of a trial drawn in frame pixels; rendered frame ``t`` is ``tau = t * tau_per_frame``."""

    trial: OCPTrial | None = None
    tau_per_frame: float = 1.0
    frame_size: int = 0

    def draw(self, draw: ImageDraw.ImageDraw, t: int) -> tuple[float, float]:
        assert self.trial is not None
        s, trial = self.frame_size, self.trial
        px, py = trial.patient
        draw_shape(draw, "circle", px * s, py * s, trial.patient_radius * s, trial.patient_colour, 0.0)
        ax, ay = trial.agent_at(t * self.tau_per_frame)
        draw_shape(draw, "circle", ax * s, ay * s, trial.agent_radius * s, trial.agent_colour, 0.0)
        return ax * s, ay * s


def _colour(rng: np.random.Generator, hue: tuple[float, float]) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(float(rng.uniform(*hue)) % 1.0, float(rng.uniform(0.75, 1.0)), float(rng.uniform(0.8, 1.0)))
    return int(r * 255), int(g * 255), int(b * 255)


def _motion(scenario: str, touches: bool, reach: float, observed: float, trial: float,
            rng: np.random.Generator) -> tuple[float, float, float, float]:
    """``(speed, decel, along, offset)`` of one scenario and label (see the module docstring)."""
    speed = float(rng.uniform(*SPEED))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    event = float(rng.uniform(observed + AFTER, trial - 0.1))  # contact, closest approach or stop
    if scenario == "aim":
        offset = sign * reach * float(rng.uniform(0.0, 0.5) if touches else rng.uniform(1.5, 2.5))
        cut = math.sqrt(reach**2 - offset**2) if touches else 0.0
        return speed, 0.0, speed * event + cut, offset
    offset = sign * reach * float(rng.uniform(0.0, 0.3))
    cut = math.sqrt(reach**2 - offset**2)
    if touches:  # still moving at the contact at `event`: stopping distance / contact distance = ratio
        ratio = float(rng.uniform(1.15, 1.8))
        x = 1.0 - math.sqrt(1.0 - 1.0 / ratio)  # contact time / stop time
        stop = event / x
        distance = speed * event - 0.5 * (speed / stop) * event**2
        return speed, speed / stop, distance + cut, offset
    ratio = float(rng.uniform(0.55, 0.85))  # stops at `event`, short of the contact distance
    stopping = 0.5 * speed * event
    return speed, speed / event, stopping / ratio + cut, offset


def design_trial(scenario: str, touches: bool, *, observed: float, trial: float, rng: np.random.Generator) -> OCPTrial:
    """A trial of ``scenario`` with the given label whose clip (``tau`` up to ``observed``) stays in the frame
    and shows no contact; rejection-sampled (an error after :data:`TRIES` draws names the setting)."""
    agent_r = float(rng.uniform(*AGENT_RADIUS))
    patient_r = float(rng.uniform(*PATIENT_RADIUS))
    colours = _colour(rng, (-0.03, 0.03)), _colour(rng, (0.13, 0.17))
    for _ in range(TRIES):
        speed, decel, along, offset = _motion(scenario, touches, agent_r + patient_r, observed, trial, rng)
        angle = float(rng.uniform(0, 2 * math.pi))
        design = OCPTrial(scenario, touches, (0.0, 0.0), (math.cos(angle), math.sin(angle)), speed, decel, along,
                          offset, agent_r, patient_r, *colours)
        # the clip, the yellow ball and the red ball's path up to the contact / closest approach / stop
        ends = [design.agent_at(tau) for tau in np.linspace(0.0, observed, 8)]
        ends.append(design.agent_at(min(trial, design.stop_time, along / speed)))
        xs = [p[0] for p in ends] + [design.patient[0]]
        ys = [p[1] for p in ends] + [design.patient[1]]
        pad = MARGIN + patient_r
        span_x, span_y = max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad
        if span_x > 1.0 or span_y > 1.0:
            continue
        shift = (float(rng.uniform(pad - min(xs), 1.0 - pad - max(xs))), float(rng.uniform(pad - min(ys), 1.0 - pad - max(ys))))
        design = dataclasses.replace(design, start=shift)
        contact = design.contact_time(trial)
        if (contact is not None) != touches or design.gap(observed) < MIN_GAP:
            continue
        if contact is not None and contact < observed + AFTER:
            continue
        return design
    raise ValueError(f"demo OCP: no {scenario} trial fits the frame in {TRIES} draws (ocp.sets.<name>.trial={trial:g})")


@dataclass(frozen=True)
class OCPClip:
    """One rendered trial: uint8 ``(frames, S, S, 3)`` clip, its design and the rendered frames it holds."""

    scenario: str
    index: int
    trial: OCPTrial
    clip: np.ndarray
    frame_indices: np.ndarray


def render_ocp_clip(
    world: World, scenario: str, index: int, *, ocp: DemoOCPSource, clip: ClipConfig, size: int, fps: float,
) -> OCPClip:
    """Render item ``index`` of ``scenario`` (even items touch, odd ones do not) as a clip of ``clip.frames`` frames."""
    from devcurriculum.datasets.decode import read_frames, resize_short_side_and_center_crop
    from devcurriculum.demo.video import write_mp4

    stream = (ocp.seed, STREAM_OCP, DEMO_OCP_SCENARIOS.index(scenario), index)
    rng = stream_rng(*stream, 0)
    lo, hi = world.age_span
    stats = dataclasses.replace(world.at_age(float(rng.uniform(lo, hi))), clutter_density=0.0, n_objects=0.0)
    n_render = clip.frames * clip.frame_step
    tau_per_frame = 1.0 / max((clip.frames - 1) * clip.frame_step, 1)
    observed = (n_render - 1) * tau_per_frame
    trial = design_trial(scenario, index % 2 == 0, observed=observed, trial=ocp.trial, rng=rng)
    actors = OCPActors(shape="circle", colour=trial.agent_colour, radius=trial.agent_radius, angle=0.0,
                       start=trial.start, velocity=(0.0, 0.0), trial=trial, tau_per_frame=tau_per_frame,
                       frame_size=size)
    rendered = render_scene(
        stats, n_frames=n_render, size=size, fps=fps, rng=stream_rng(*stream, 1), people=[], hand_skin=(0, 0, 0),
        faces=False, hands=False, object_motion=False, object_shapes=(), camera_scale=ocp.camera_scale,
        target=actors, measure=False,
    )
    indices = np.arange(clip.frames, dtype=np.int64) * clip.frame_step
    with tempfile.TemporaryDirectory(prefix="ocp-") as tmp:
        video = Path(tmp) / "trial.mp4"
        write_mp4(rendered.frames, video, fps)  # the training videos' encoding, so the pixels match theirs
        frames = read_frames(video, indices)
    return OCPClip(scenario, index, trial, resize_short_side_and_center_crop(frames, clip.size), indices)


def render_ocp_set(
    ocp: DemoOCPSource, *, world: DemoWorldConfig, age_groups: Mapping[str, tuple[float, float]], clip: ClipConfig,
    size: int, fps: float,
) -> list[OCPClip]:
    """Every trial of a demo OCP set: ``items_per_scenario`` per scenario, scenarios in config order."""
    demo_world = World.from_config(world, age_groups)
    return [
        render_ocp_clip(demo_world, scenario, i, ocp=ocp, clip=clip, size=size, fps=fps)
        for scenario in ocp.scenarios
        for i in range(ocp.items_per_scenario)
    ]
