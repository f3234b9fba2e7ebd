"""The room a head camera looks at: textured surfaces plus clutter, larger than the frame.

The room is ``CANVAS_SCALE`` frame widths on a side: a wall, a floor below a random horizon and
rectangular surfaces (furniture, rugs, posters), each filled with one texture family (flat, stripes,
checker, dots, grid, waves, noise), plus small clutter items. The frame is a crop of it, so camera
motion is a pan over real structure, as in head-camera footage.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

from devcurriculum.demo.draw import random_colour, stochastic_round
from devcurriculum.demo.world import SceneStats

TEXTURE_FAMILIES: tuple[str, ...] = ("flat", "stripes", "checker", "dots", "grid", "waves", "noise")
CANVAS_SCALE = 3  # room side in frame widths: room for the camera to pan before it reflects


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


def _textured_surfaces(stats: SceneStats, side: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """The room's surfaces as a float (side, side, 3) canvas, and the families and regions it used.

    "flat" is always in a scene's texture pool, so a scene with one family is untextured: the youngest
    infants' scenes are plain, the oldest mix several patterned surfaces.
    """
    n_families = min(len(TEXTURE_FAMILIES), max(1, stochastic_round(stats.texture_families, rng)))
    patterned = list(rng.choice(np.array(TEXTURE_FAMILIES[1:]), size=n_families - 1, replace=False))
    pool = ["flat", *patterned]
    n_regions = max(1, stochastic_round(stats.texture_regions, rng))
    period = max(2.0, stats.texture_period * size)
    canvas = np.empty((side, side, 3), dtype=np.float32)

    def fill(box: tuple[int, int, int, int]) -> None:
        family = pool[rng.integers(len(pool))]
        _fill_region(canvas, box, family, stats.texture_contrast, period, rng)

    fill((0, side, 0, side))  # wall
    if n_regions >= 2:  # floor below a horizon
        horizon = int(rng.uniform(0.45, 0.65) * side)
        fill((horizon, side, 0, side))
    for _ in range(n_regions - 2):  # furniture, rugs, posters
        h, w = (rng.uniform(0.12, 0.45, size=2) * side).astype(int)
        y0, x0 = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
        fill((y0, y0 + h, x0, x0 + w))
    return canvas, n_families, n_regions


def _draw_clutter(draw: ImageDraw.ImageDraw, count: int, side: int, size: int, rng: np.random.Generator) -> None:
    """Small rectangles, blobs and strokes scattered over the room."""
    for _ in range(count):
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


def make_background(stats: SceneStats, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """The room: (C, C, 3) uint8 with C = CANVAS_SCALE * size, and the counts it was built with."""
    side = CANVAS_SCALE * size
    canvas, n_families, n_regions = _textured_surfaces(stats, side, size, rng)
    image = Image.fromarray(np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8))
    n_clutter = stochastic_round(stats.clutter_density * CANVAS_SCALE**2, rng)
    _draw_clutter(ImageDraw.Draw(image), n_clutter, side, size, rng)
    info = {"texture_families": float(n_families), "texture_regions": float(n_regions), "clutter_items": float(n_clutter)}
    return np.asarray(image), info
