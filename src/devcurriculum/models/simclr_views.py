"""SimCLR's view augmentations: torchvision ``transforms.v2`` functionals, parameters from our own generator.

torchvision's random transforms draw from the global torch RNG, which a resumed run could not replay
exactly; so every random parameter is drawn here from the objective's generator (``aug_generator``,
saved and restored with the resume state) and the *functional* API applies it, frame by frame, in
[0, 1] pixel space:

1. random resized crop: area fraction ``U(crop_scale)``, aspect ``exp(U(log 3/4, log 4/3))`` (w / h); a
   side longer than the frame is clamped and the other one takes up the area, so ``crop_scale: [1, 1]``
   is the identity; the box is rounded to whole pixels and resized back bilinearly (antialiased);
2. with probability ``jitter_prob``: brightness, contrast and saturation factors ``U(1 +- jitter)`` and,
   with ``hue > 0``, a hue shift ``U(+-hue)``, in the order brightness, contrast, saturation, hue, or in a
   random order per view (``jitter_order: random``, as ``ColorJitter``);
3. grayscale with probability ``grayscale_prob``;
4. horizontal flip with probability 0.5 (``flip``);
5. rotation by ``U(+-rotation)`` degrees (nearest neighbour, corners black), when ``rotation > 0``.

The seed study's views (``RandomResizedCrop(scale=(0.7, 1))``, ``ColorJitter(0.4, 0.4, 0.4, 0.1)`` with
p 0.8, ``RandomGrayscale(0.2)``, ``RandomHorizontalFlip``, ``RandomRotation(+-90)``) are
``crop_scale [0.7, 1], jitter 0.4, hue 0.1, jitter_prob 0.8, jitter_order random, grayscale_prob 0.2,
flip, rotation 90``. Parameters are drawn for the whole batch in a fixed order and a disabled transform
draws nothing, so a config without ``hue``, ``jitter_order: random`` or ``rotation`` draws exactly the
numbers it drew before those keys existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from devcurriculum.config import SimCLRAugmentConfig

PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
#: the colour operations in their fixed order (``jitter_order: fixed``)
COLOUR_OPS = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class FrameView:
    """The drawn parameters of one frame's view (crop box in pixels, colour factors, flip, angle)."""

    box: tuple[int, int, int, int]  # top, left, height, width
    jitter: bool
    factors: dict[str, float]
    order: tuple[str, ...]
    grayscale: bool
    flip: bool
    angle: float


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def _crop_boxes(n: int, height: int, width: int, cfg: SimCLRAugmentConfig, generator: torch.Generator) -> list[tuple[int, ...]]:
    """``n`` crop boxes ``(top, left, h, w)`` covering ``U(crop_scale)`` of the frame (see the module docstring)."""
    area = _uniform(n, *cfg.crop_scale, generator)
    ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), generator))
    sx = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width / frame width
    sy = (area / sx).clamp(max=1.0)
    sx = area / sy
    ux, uy = torch.rand(n, generator=generator), torch.rand(n, generator=generator)
    w = (sx * width).round().clamp(1, width)
    h = (sy * height).round().clamp(1, height)
    left = (ux * (width - w)).round()
    top = (uy * (height - h)).round()
    return [tuple(int(v) for v in box) for box in torch.stack([top, left, h, w], dim=1).tolist()]


def _colour(n: int, cfg: SimCLRAugmentConfig, generator: torch.Generator) -> tuple[list[bool], list[dict[str, float]], list[tuple[str, ...]]]:
    """Per frame: whether it is jittered, its factors, and the order of the operations."""
    if (cfg.jitter <= 0 and cfg.hue <= 0) or cfg.jitter_prob <= 0:
        return [False] * n, [{}] * n, [()] * n
    apply = (torch.rand(n, generator=generator) < cfg.jitter_prob).tolist()
    bcs = _uniform(3 * n, 1 - cfg.jitter, 1 + cfg.jitter, generator).view(n, 3).tolist()
    hue = _uniform(n, -cfg.hue, cfg.hue, generator).tolist() if cfg.hue > 0 else [0.0] * n
    ops = COLOUR_OPS if cfg.hue > 0 else COLOUR_OPS[:3]
    if cfg.jitter_order == "random":
        orders = [tuple(ops[i] for i in row) for row in torch.rand(n, len(ops), generator=generator).argsort(dim=1).tolist()]
    else:
        orders = [ops] * n
    factors = [dict(zip(COLOUR_OPS, (*f, h), strict=True)) for f, h in zip(bcs, hue, strict=True)]
    return apply, factors, orders


def draw_views(n: int, height: int, width: int, cfg: SimCLRAugmentConfig, generator: torch.Generator) -> list[FrameView]:
    """The parameters of ``n`` frames' views, all drawn from ``generator`` (CPU) in one fixed order."""
    boxes = _crop_boxes(n, height, width, cfg, generator)
    flips = (torch.rand(n, generator=generator) < 0.5).tolist() if cfg.flip else [False] * n
    apply, factors, orders = _colour(n, cfg, generator)
    # no draw when off, so configs without grayscale keep their random stream
    grey = (torch.rand(n, generator=generator) < cfg.grayscale_prob).tolist() if cfg.grayscale_prob > 0 else [False] * n
    angles = _uniform(n, -cfg.rotation, cfg.rotation, generator).tolist() if cfg.rotation > 0 else [0.0] * n
    return [
        FrameView(boxes[i], apply[i], factors[i], orders[i], grey[i], flips[i], angles[i])  # type: ignore[arg-type]
        for i in range(n)
    ]


_ADJUST = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
    "hue": TF.adjust_hue,
}


def apply_view(pixels: torch.Tensor, view: FrameView) -> torch.Tensor:
    """One ``(C, H, W)`` frame in [0, 1] through the view's crop, colour, grayscale, flip and rotation."""
    height, width = pixels.shape[-2:]
    top, left, h, w = view.box
    out = TF.resized_crop(pixels, top, left, h, w, [height, width], interpolation=v2.InterpolationMode.BILINEAR,
                          antialias=True)
    if view.jitter:
        for op in view.order:
            out = _ADJUST[op](out, view.factors[op])
    if view.grayscale:
        out = TF.rgb_to_grayscale(out, num_output_channels=3)
    if view.flip:
        out = TF.horizontal_flip(out)
    if view.angle:
        out = TF.rotate(out, view.angle, interpolation=v2.InterpolationMode.NEAREST, fill=0.0)
    return out


def augment_frames(frames: torch.Tensor, cfg: SimCLRAugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Independent views of normalised ``(N, C, H, W)`` frames (same shape, dtype and device).

    All random numbers come from ``generator`` (CPU), so the views are reproducible from its state.
    """
    n, _, height, width = frames.shape
    views = draw_views(n, height, width, cfg, generator)
    pixels = frames * PIXEL_STD + PIXEL_MEAN
    out = torch.stack([apply_view(pixels[i], view) for i, view in enumerate(views)])
    return (out - PIXEL_MEAN) / PIXEL_STD
