"""Tiny violation-of-expectation movies on disk, in the IntPhys layout, for the VoE tests.

``<root>/<block>/<scene>/<movie>/scene/scene_001.png ...`` plus ``<movie>/status.json`` with
``{"header": {"is_possible": ...}}``. Each scene is a quadruplet built the way IntPhys builds them:
two possible movies A (a square slides across) and B (the square rests still) and two impossible
movies spliced from them at frame ``splice``: A's beginning with B's end, and B's beginning with A's
end. The movie folders are numbered in a scrambled order, so a reader has to pair them by content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

#: the movie folder of A, B, A->B, B->A (scrambled, so that folder order does not give the pairing)
MOVIE_NAMES = {"A": "3", "B": "1", "AB": "4", "BA": "2"}


def possible_movies(n_frames: int, size: int, seed: int, shared: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A: a bright square sliding right along the top half over a grey ramp; B: the same square resting in
    the bottom half (so the two never show the same frame), except its first ``shared`` frames, which are A's."""
    rng = np.random.default_rng(seed)
    background = np.tile(np.linspace(60, 120, size, dtype=np.uint8)[None, :, None], (size, 1, 3))
    colour = rng.integers(150, 255, size=3, dtype=np.uint8)
    side = size // 5
    top, rest_top = int(rng.integers(0, size // 2 - side)), int(rng.integers(size // 2, size - side))
    a = np.repeat(background[None], n_frames, axis=0)
    b = a.copy()
    for t in range(n_frames):
        left = t * (size - side) // max(n_frames - 1, 1)
        a[t, top : top + side, left : left + side] = colour
        b[t, rest_top : rest_top + side, size - side :] = colour
    b[:shared] = a[:shared]
    return a, b


def write_movie(folder: Path, frames: np.ndarray, possible: bool) -> None:
    (folder / "scene").mkdir(parents=True)
    for t, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / "scene" / f"scene_{t:03d}.png")
    (folder / "status.json").write_text(json.dumps({"header": {"is_possible": possible}}))


def build_intphys(
    root: Path, *, blocks: tuple[str, ...] = ("O1", "O2"), scenes: int = 2, n_frames: int = 20, size: int = 32,
    splice: int = 9, shared: int = 0, names: dict[str, str] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Write the quadruplets under ``root``; returns each scene's movies (``<block>/<scene>`` -> name -> frames).

    ``shared``: A and B (so all four movies) begin with the same frames; ``names``: movie folders (default
    :data:`MOVIE_NAMES`).
    """
    names = names or MOVIE_NAMES
    movies: dict[str, dict[str, np.ndarray]] = {}
    for b, block in enumerate(blocks):
        for s in range(scenes):
            a, bb = possible_movies(n_frames, size, seed=10 * b + s, shared=shared)
            quad = {"A": a, "B": bb, "AB": np.concatenate([a[:splice], bb[splice:]]),
                    "BA": np.concatenate([bb[:splice], a[splice:]])}
            scene = root / block / f"{s + 1:02d}"
            for name, frames in quad.items():
                write_movie(scene / names[name], frames, possible=name in ("A", "B"))
            movies[f"{block}/{s + 1:02d}"] = quad
    return movies
