"""Carers' faces and the child's hands: when they are in view (episodes) and how they are drawn.

Faces and hands come in on/off episodes (a two-state Markov chain whose stationary on-fraction is
``face_fraction`` or ``hand_fraction``). A face is a skin ellipse with hair, eyes (both when frontal,
one plus a nose when in profile) and a mouth; a hand is a sleeve, then a skin-coloured arm from the
bottom edge, ending in a palm with four fingers. Each is also drawn into a mask, so the rendered
video can report the fraction of pixels it covered.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from devcurriculum.demo.draw import RGB, Person

PALM_RADIUS = 0.09  # palm radius / frame side
ARM_WIDTH = 0.13  # forearm width / frame side
FACE_ASPECT = 0.78  # face width / face height
MOUTH_COLOUR = (150, 60, 65)
EYE_WHITE = (240, 240, 235)
PUPIL = (25, 20, 20)


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


def draw_face(
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


def draw_hand(
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
