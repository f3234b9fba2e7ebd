"""Physion on disk: the v1.5 layout, scenario names, OCP labels and the frames the readout sees.

Physion (Bear et al. 2021, "Physion: Evaluating Physical Prediction from Vision in Humans and
Machines"; v1.5 = the official evaluator ``neuroailab/physion_evaluator``, 2024) asks whether the red
object touches the yellow one. The v1.5 layout, which is what this module reads::

    <root>/physion_mp4s/
      train/  <stimulus>.mp4 ...  all_video_labels.json     # the readout's train split (5608 clips)
      test/   <stimulus>.mp4 ...  all_video_labels.json     # its test split (1035 clips)

``all_video_labels.json`` maps each MP4's stem to ``{"label": ..., "contact_frame_label": ...}``;
``label`` (true/false or 1/0: the public files' type is not documented, both are read) is the OCP
ground truth. ``root`` may also be the ``physion_mp4s`` folder itself.

- **Scenario** (:func:`physion_scenario`): the seven v1.5 keys are substrings of the file name, with the
  evaluator's rule that ``collision`` counts only when ``roll`` is absent (Roll stimuli are named
  ``pilot_it2_rollingSliding_simple_collision_*``). The evaluator tests the full path; we test the
  basename, so a folder named ``test_collision0`` cannot relabel its files. A name that matches no
  key, or more than one, is an error naming the file.
- **Frames** (:func:`physion_frame_indices`): the evaluator's OCP schedule, anchored at the cutoff (frame
  45 = 1.5 s at 30 fps, what humans saw; Collide: 15) and walking back ``step`` frames at a time,
  clipped to the video and left-padded with its first index: for 4 frames, step 15: ``[0, 15, 30, 45]``,
  Collide ``[0, 0, 0, 15]``, a 20-frame video ``[0, 15, 19, 19]``. A learner with a clip of ``F``
  frames gets ``F`` such frames, by default ``step = 45 // (F - 1)`` (16 frames: step 3, frames 0..45,
  as the evaluator's 16-frame setting); when the schedule holds more than ``F`` frames the last ``F``
  (closest to the cutoff) are kept. Nothing after the cutoff is read.
- **Blacklist**: the 41 test stimuli the evaluator drops as buggy (``dataloader_mp4s.py``, MIT
  licence), dropped from the test split by default.

The 2021 release's per-trial HDF5 files (``frames/NNNN/images/_img``, labels
``frames/NNNN/labels/target_contacting_zone``) are **not read**: they need h5py, which is not among
this project's dependencies; a folder of ``.hdf5`` files is refused with that reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from devcurriculum.config import PhysionOCPSource
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.evalsets.physion")

#: the v1.5 scenario keys, in the evaluator's order of testing
SCENARIO_KEYS: tuple[str, ...] = ("collision", "drop", "towers", "link", "roll", "contain", "dominoes")
SPLITS: tuple[str, ...] = ("train", "test")
LABELS_FILE = "all_video_labels.json"
#: the OCP cutoffs: the last frame a learner may see (frame 45 = 1.5 s at 30 fps; Collide 15)
CUTOFF, COLLIDE_CUTOFF = 45, 15
#: test stimuli the official v1.5 evaluator drops as buggy (physion_evaluator/dataloader_mp4s.py, MIT licence)
BLACKLIST: frozenset[str] = frozenset({
    "pilot-containment-cone-plate_0017",
    "pilot-containment-cone-plate_0022",
    "pilot-containment-cone-plate_0029",
    "pilot-containment-cone-plate_0034",
    "pilot-containment-multi-bowl_0042",
    "pilot-containment-multi-bowl_0048",
    "pilot-containment-vase_torus_0031",
    "pilot_dominoes_SJ020_d3chairs_o1plants_tdwroom_0005",
    "pilot_it2_collision_non-sphere_box_0002",
    "pilot_it2_collision_non-sphere_tdw_1_dis_1_occ_0004",
    "pilot_it2_collision_non-sphere_tdw_1_dis_1_occ_0007",
    "pilot_it2_drop_simple_box_0000",
    "pilot_it2_drop_simple_box_0042",
    "pilot_it2_drop_simple_tdw_1_dis_1_occ_0003",
    "pilot_it2_rollingSliding_simple_collision_box_0008",
    "pilot_it2_rollingSliding_simple_collision_box_large_force_0009",
    "pilot_it2_rollingSliding_simple_collision_tdw_1_dis_1_occ_0002",
    "pilot_it2_rollingSliding_simple_ledge_tdw_1_dis_1_occ_sphere_small_zone_0022",
    "pilot_it2_rollingSliding_simple_ramp_box_small_zone_0006",
    "pilot_it2_rollingSliding_simple_ramp_tdw_1_dis_1_occ_small_zone_0004",
    "pilot_it2_rollingSliding_simple_ramp_tdw_1_dis_1_occ_small_zone_0017",
    "pilot_linking_nl1-8_mg000_aCyl_bCyl_tdwroom1_long_a_0022",
    "pilot_linking_nl1-8_mg000_aCylcap_bCyl_tdwroom1_0012",
    "pilot_linking_nl1-8_mg000_aCylcap_bCyl_tdwroom_small_rings_0006",
    "pilot_linking_nl1-8_mg000_aCylcap_bCyl_tdwroom_small_rings_0010",
    "pilot_linking_nl1-8_mg000_aCylcap_bCyl_tdwroom_small_rings_0029",
    "pilot_linking_nl1-8_mg000_aCylcap_bCyl_tdwroom_small_rings_0036",
    "pilot_linking_nl6_aNone_bCone_occ1_dis1_boxroom_0028",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0000",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0002",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0003",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0010",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0013",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0017",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0018",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0032",
    "pilot_towers_nb4_fr015_SJ000_gr000sph_mono1_dis0_occ0_tdwroom_stable_0036",
    "pilot_towers_nb4_fr015_SJ000_gr01_mono0_dis1_occ1_tdwroom_unstable_0021",
    "pilot_towers_nb4_fr015_SJ000_gr01_mono0_dis1_occ1_tdwroom_unstable_0041",
    "pilot_towers_nb5_fr015_SJ030_mono0_dis0_occ0_boxroom_unstable_0006",
    "pilot_towers_nb5_fr015_SJ030_mono0_dis0_occ0_boxroom_unstable_0009",
})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


class PhysionError(ValueError):
    """A Physion folder that cannot be read as the v1.5 layout; the message names the file or folder."""


def canonical_id(name: str) -> str:
    """A stimulus' id across releases: the basename without extension, ``-redyellow`` and ``_img`` / ``_map``."""
    stem = Path(name).name
    stem = re.sub(r"\.(mp4|hdf5|png|json)$", "", stem, flags=re.IGNORECASE)
    stem = stem.replace("-redyellow", "")
    return re.sub(r"_(img|map)$", "", stem)


def physion_scenario(name: str) -> str:
    """The v1.5 scenario key of a stimulus from its file name (basename only; see the module docstring)."""
    base = Path(name).name
    found = [key for key in SCENARIO_KEYS if key in base and not (key == "collision" and "roll" in base)]
    if len(found) != 1:
        what = "no scenario key" if not found else f"several scenario keys {found}"
        raise PhysionError(f"{name}: {what} in the file name (keys: {', '.join(SCENARIO_KEYS)})")
    return found[0]


def physion_frame_indices(name: str, n_frames: int, frames: int, step: int | None = None) -> np.ndarray:
    """The source frames of a stimulus' OCP clip: the evaluator's schedule (module docstring), ``frames`` long.

    ``n_frames``: the frames the video holds (only the first ``CUTOFF + 1`` matter); ``step`` None is
    ``CUTOFF // (frames - 1)``. The Collide rule reads the basename, like :func:`physion_scenario`.
    """
    if frames < 1 or n_frames < 1:
        raise ValueError(f"need frames >= 1 and a non-empty video, got frames={frames}, n_frames={n_frames}")
    if step is None:
        step = max(1, CUTOFF // max(frames - 1, 1))
    cutoff = COLLIDE_CUTOFF if physion_scenario(name) == "collision" else CUTOFF
    indices = np.arange(cutoff, -1, -step).clip(0, n_frames - 1)[::-1]
    if len(indices) < frames:
        indices = np.concatenate([np.full(frames - len(indices), indices[0]), indices])
    return indices[-frames:].astype(np.int64)


def parse_label(value: object, where: str) -> bool:
    """An OCP label as a bool: true/false, 1/0 (numbers or text); anything else names ``where``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise PhysionError(f"{where}: label must be true/false or 1/0, got {value!r}")


def mp4_root(root: PathLike) -> Path:
    """The folder holding ``train/`` and ``test/``: ``<root>/physion_mp4s`` or ``root`` itself."""
    base = Path(root)
    if not base.is_dir():
        raise PhysionError(f"Physion folder {base}: not found")
    for candidate in (base / "physion_mp4s", base):
        if all((candidate / split / LABELS_FILE).is_file() for split in SPLITS):
            return candidate
    if next(base.rglob("*.hdf5"), None) is not None:
        raise PhysionError(
            f"Physion folder {base}: holds .hdf5 files (the 2021 release); only the v1.5 layout is read "
            "(physion_mp4s/{train,test}/*.mp4 + all_video_labels.json): the HDF5 files need the h5py package, "
            "which devcurriculum does not install"
        )
    raise PhysionError(
        f"Physion folder {base}: expected physion_mp4s/train/{LABELS_FILE} and physion_mp4s/test/{LABELS_FILE} "
        "(the v1.5 layout of neuroailab/physion_evaluator), or train/ and test/ directly below it"
    )


def read_labels(path: Path) -> dict[str, bool]:
    """``all_video_labels.json``: stimulus stem -> OCP label."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PhysionError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise PhysionError(f"{path}: expected an object mapping each stimulus to its labels")
    labels = {}
    for stem, entry in raw.items():
        if not isinstance(entry, dict) or "label" not in entry:
            raise PhysionError(f"{path}: entry {stem!r} has no 'label'")
        labels[str(stem)] = parse_label(entry["label"], f"{path}: {stem}")
    return labels


def physion_items(
    root: PathLike, *, scenarios: Sequence[str] = SCENARIO_KEYS, blacklist: bool = PhysionOCPSource.blacklist,
) -> pd.DataFrame:
    """Every stimulus of both splits: ``item_id`` (``<split>/<stem>``), stimulus, scenario, label, split, path.

    Files are listed sorted by name; a file whose stem is missing from its split's labels is an error
    naming both; label entries without a file are counted in the log. Test stimuli on :data:`BLACKLIST`
    are dropped when ``blacklist``; stimuli of scenarios not in ``scenarios`` are skipped.
    """
    folder = mp4_root(root)
    rows = []
    for split in SPLITS:
        labels_path = folder / split / LABELS_FILE
        labels = read_labels(labels_path)
        files = sorted((folder / split).glob("*.mp4"))
        if not files:
            raise PhysionError(f"Physion split {folder / split}: no .mp4 files")
        dropped = 0
        for path in files:
            stem = path.stem
            if split == "test" and blacklist and stem in BLACKLIST:
                dropped += 1
                continue
            if stem not in labels:
                raise PhysionError(f"{path}: no entry {stem!r} in {labels_path}")
            scenario = physion_scenario(path.name)
            if scenario not in scenarios:
                continue
            rows.append({"item_id": f"{split}/{stem}", "stimulus": stem, "scenario": scenario,
                         "label": labels[stem], "split": split, "path": str(path)})
        orphans = len(set(labels) - {p.stem for p in files})
        log.info("Physion %s: %d files (%d blacklisted), %d labels without a file", split, len(files), dropped, orphans)
    items = pd.DataFrame(rows, columns=["item_id", "stimulus", "scenario", "label", "split", "path"])
    for split in SPLITS:
        if not (items["split"] == split).any():
            raise PhysionError(f"Physion folder {folder}: no {split} stimulus of scenarios {list(scenarios)}")
    return items


def read_ocp_clip(path: PathLike, frames: int, size: int, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One stimulus' OCP clip, uint8 ``(frames, size, size, 3)`` resized like the clip cache, and its source frames.

    Decodes the video from the start up to the cutoff (never further), so the clip and the clipping of
    short videos follow :func:`physion_frame_indices`.
    """
    from devcurriculum.datasets.decode import VideoDecodeError, iter_frame_batches, resize_short_side_and_center_crop

    decoded: list[np.ndarray] = []
    try:
        for idx, batch in iter_frame_batches(path, None, batch_size=16):
            decoded.extend(batch[: max(0, CUTOFF + 1 - int(idx[0]))])
            if idx[-1] >= CUTOFF:
                break
    except VideoDecodeError as exc:
        raise VideoDecodeError(f"Physion stimulus {path}: {exc}") from exc
    if not decoded:
        raise PhysionError(f"Physion stimulus {path}: no frame decodes")
    indices = physion_frame_indices(Path(path).name, len(decoded), frames, step)
    clip = resize_short_side_and_center_crop(np.stack([decoded[i] for i in indices]), size)
    return clip, indices
