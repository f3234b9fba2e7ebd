"""Drawing primitives of the demo world: colours, carers' looks, toy shapes, stochastic counts."""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

RGB = tuple[int, int, int]

#: every toy shape the renderer draws (the benchmark labels a subset; the rest are its distractors)
WORLD_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "bar", "ring")
#: unit screen motion of each benchmark direction (y grows downwards)
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}

# Skin and hair palettes for simulated people (a spread of tones; no identity is special).
SKIN_TONES: tuple[RGB, ...] = (
    (250, 214, 190), (241, 194, 167), (224, 172, 138), (198, 134, 96), (160, 103, 68), (116, 72, 46),
)
HAIR_COLOURS: tuple[RGB, ...] = (
    (20, 20, 20), (40, 28, 20), (90, 60, 30), (150, 110, 60), (200, 170, 110), (120, 120, 120),
)

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


@dataclass(frozen=True)
class Person:
    """A simulated carer: the colours that make their face recognisably theirs."""

    skin: RGB
    hair: RGB


def stochastic_round(value: float, rng: np.random.Generator) -> int:
    """Round so that the expected result equals ``value``: counts stay smooth functions of age."""
    low = math.floor(value)
    return int(low + (rng.random() < value - low))


def random_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def darker(colour: RGB, factor: float) -> RGB:
    return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]


def make_people(count: int, rng: np.random.Generator) -> list[Person]:
    """``count`` (at least one) distinct-looking carers with slightly varied skin and hair colours."""
    people = []
    for _ in range(max(1, count)):
        skin = np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.integers(-10, 11, size=3)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
        people.append(Person(skin=tuple(int(c) for c in np.clip(skin, 0, 255)), hair=hair))  # type: ignore[arg-type]
    return people


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, radius: float, colour: RGB, angle: float
) -> None:
    """Draw a filled toy shape with a darker rim (the rim gives it an edge on any background)."""
    rim = darker(colour, 0.55)
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
