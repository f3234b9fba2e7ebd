"""A tiny Physion v1.5 folder made in the test with PyAV (the layout of docs/evaluation.md "Object contact prediction").

Every frame is one flat colour that encodes its frame number in red and blue, ``R = 20 + 40 (i mod 6)``,
``B = 20 + 30 (i div 6)``: steps wide enough to survive H.264's 4:2:0 round trip for all 48 frames
(a single channel in steps of 5 does not), so a decoded clip says which source frames it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

#: (stem, label) of the train split: two per scenario, labels as 0/1 and true/false (the type is not documented)
TRAIN = {
    "pilot_dominoes_1mid_J025R45_boxroom_0000": 1,
    "pilot_dominoes_1mid_J025R45_boxroom_0001": 0,
    "pilot_towers_nb4_SJ025_mono1_dis0_occ0_tdwroom_0000": 1,
    "pilot_towers_nb4_SJ025_mono1_dis0_occ0_tdwroom_0001": 0,
    "pilot_it2_collision_simple_box_0000": True,
    "pilot_it2_collision_simple_box_0001": False,
    "pilot-containment-bowl_0000": 1,
    "pilot-containment-bowl_0001": 0,
    "pilot_it2_drop_simple_box_0000": True,
    "pilot_it2_drop_simple_box_0001": False,
    "pilot_linking_nl6_aCyl_bCube_occ1_dis1_boxroom_0000": 1,
    "pilot_linking_nl6_aCyl_bCube_occ1_dis1_boxroom_0001": 0,
    "pilot_it2_rollingSliding_simple_collision_box_0000": 1,  # Roll, though it says collision
    "pilot_it2_rollingSliding_simple_collision_box_0001": 0,
}
SCENARIOS = {
    "pilot_dominoes_1mid_J025R45_boxroom": "dominoes", "pilot_towers_nb4_SJ025_mono1_dis0_occ0_tdwroom": "towers",
    "pilot_it2_collision_simple_box": "collision", "pilot-containment-bowl": "contain",
    "pilot_it2_drop_simple_box": "drop", "pilot_linking_nl6_aCyl_bCube_occ1_dis1_boxroom": "link",
    "pilot_it2_rollingSliding_simple_collision_box": "roll",
}
#: the test split: one positive and one negative per scenario, a blacklisted stimulus, a 20-frame video
TEST = {
    **{f"{stim}_{n:04d}": bool(n == 10) for stim in SCENARIOS for n in (10, 11)},
    "pilot_it2_collision_non-sphere_box_0002": 1,  # on the evaluator's blacklist: dropped
    "pilot_dominoes_1mid_J025R45_boxroom_0012": 0,  # only 20 frames
}
SHORT = {"pilot_dominoes_1mid_J025R45_boxroom_0012": 20}
N_FRAMES = 48


def frame_colour(index: int, code: int) -> tuple[int, int, int]:
    return 20 + 40 * (index % 6), code % 256, 20 + 30 * (index // 6)


def frame_numbers(clip: np.ndarray) -> list[int]:
    """The source frame of each frame of a decoded clip ``(T, S, S, 3)``."""
    mean = clip.reshape(len(clip), -1, 3).mean(axis=1)
    return [int(round((r - 20) / 40) + 6 * round((b - 20) / 30)) for r, _, b in mean]


def make_video(path: Path, n_frames: int = N_FRAMES, code: int = 128, size: int = 32) -> Path:
    """A flat-colour 30 fps H.264 video (crf 1, the project's deterministic x264 settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": "1", "x264-params": "mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(n_frames):
            image = np.empty((size, size, 3), dtype=np.uint8)
            image[...] = frame_colour(i, code)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_physion(root: Path, *, extra_labels: dict[str, dict] | None = None) -> Path:
    """``<root>/physion_mp4s/{train,test}/*.mp4`` + ``all_video_labels.json``; returns ``root``."""
    for split, labels in (("train", TRAIN), ("test", TEST)):
        folder = root / "physion_mp4s" / split
        for k, stem in enumerate(labels):
            make_video(folder / f"{stem}.mp4", SHORT.get(stem, N_FRAMES), code=40 + 5 * k)
        entries = {stem: {"label": label, "contact_frame_label": 30} for stem, label in labels.items()}
        entries.update((extra_labels or {}).get(split, {}))
        (folder / "all_video_labels.json").write_text(json.dumps(entries))
    return root
