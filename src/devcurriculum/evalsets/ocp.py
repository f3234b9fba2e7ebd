"""Object-contact-prediction sets (rule ``prepare_ocp``): the first frames of physical scenes and whether
the red object later touches the yellow one.

An OCP set is written like a benchmark, an item table plus an uncompressed uint8 clip cache:

- ``{name}.parquet``: item_id, scenario, label (bool: they touch), split (train / test), cache_row,
  frame_indices (the source frames of the clip: Physion's, or the demo's rendered frames);
- ``{name}.npy``: uint8 ``(N, frames, S, S, 3)`` at the learner's clip (``frames``, ``size``).

Sources: ``demo`` (:mod:`devcurriculum.demo.ocp`: split stratified by scenario and label with the
set's ``test_fraction`` and ``seed``) and ``physion`` (:mod:`devcurriculum.evalsets.physion`: the
release's own train and test splits). Each scenario's test majority-class rate (the chance level of
its accuracy) goes into the table metadata as ``devcurriculum.chance``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.config import ClipConfig, DemoConfig, DemoOCPSource, OCPSetConfig, PhysionOCPSource
from devcurriculum.utils.io import provenance, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.serialize import save_npy

log = logging.getLogger("devcurriculum.evalsets.ocp")

OCP_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("scenario", pa.string(), nullable=False),
        pa.field("label", pa.bool_(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("cache_row", pa.int64(), nullable=False),
        pa.field("frame_indices", pa.list_(pa.int64()), nullable=False),
    ]
)


def scenario_chance(items: pd.DataFrame) -> dict[str, float]:
    """Each scenario's majority-class rate on the test split: what always answering one way scores."""
    test = items[items["split"] == "test"]
    return {str(s): float(part["label"].value_counts(normalize=True).max()) for s, part in test.groupby("scenario")}


def _demo_items(name: str, ocp: DemoOCPSource, clip: ClipConfig, demo: DemoConfig | None,
                age_groups: Mapping[str, tuple[float, float]] | None) -> tuple[pd.DataFrame, np.ndarray]:
    from devcurriculum.demo.ocp import render_ocp_set
    from devcurriculum.evalsets.labelled.splits import stratified_split

    if demo is None or age_groups is None:
        raise ValueError(f"ocp.sets.{name}: source 'demo' needs the demo block (world, size, fps) and data.age_groups")
    clips = render_ocp_set(ocp, world=demo.world, age_groups=age_groups, clip=clip, size=demo.size, fps=demo.fps)
    items = pd.DataFrame({
        "item_id": [f"{c.scenario}_{c.index:03d}" for c in clips],
        "scenario": [c.scenario for c in clips],
        "label": [c.trial.touches for c in clips],
        "frame_indices": [c.frame_indices.tolist() for c in clips],
    })
    strata = [f"{s}:{lab}" for s, lab in zip(items["scenario"], items["label"], strict=True)]
    items["split"] = stratified_split(strata, test_fraction=ocp.test_fraction, seed=ocp.seed)
    return items, np.stack([c.clip for c in clips])


def _physion_items(physion: PhysionOCPSource, clip: ClipConfig) -> tuple[pd.DataFrame, np.ndarray]:
    from devcurriculum.evalsets.physion import physion_items, read_ocp_clip
    from devcurriculum.utils.progress import progress_bar

    items = physion_items(physion.root, scenarios=physion.scenarios, blacklist=physion.blacklist)
    clips = np.empty((len(items), clip.frames, clip.size, clip.size, 3), dtype=np.uint8)
    indices = []
    for i, path in enumerate(progress_bar(items["path"].tolist(), desc="Physion clips", unit="clip")):
        clips[i], used = read_ocp_clip(path, clip.frames, clip.size, physion.step)
        indices.append(used.tolist())
    return items.assign(frame_indices=indices), clips


def load_ocp_set(
    name: str, ocp: OCPSetConfig, clip: ClipConfig, demo: DemoConfig | None,
    age_groups: Mapping[str, tuple[float, float]] | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Items (item_id, scenario, label, split, frame_indices) and their uint8 clips, in cache order."""
    if isinstance(ocp, DemoOCPSource):
        return _demo_items(name, ocp, clip, demo, age_groups)
    return _physion_items(ocp, clip)


def prepare_ocp(
    *,
    name: str,
    ocp: OCPSetConfig,
    clip: ClipConfig,
    demo: DemoConfig | None,
    age_groups: Mapping[str, tuple[float, float]] | None,
    out_table: PathLike,
    out_cache: PathLike,
) -> int:
    """Build OCP set ``name``, write its item table and uncompressed clip cache; returns the number of clips.

    ``demo`` (its ``world``, ``size`` and ``fps``) and ``age_groups`` are only read for ``source: demo``.
    """
    items, clips = load_ocp_set(name, ocp, clip, demo, age_groups)
    for split in ("train", "test"):
        if not (items["split"] == split).any():
            raise ValueError(f"ocp.sets.{name}: no {split} items")
    table = table_from_columns(
        {"item_id": items["item_id"].tolist(), "scenario": items["scenario"].tolist(),
         "label": items["label"].astype(bool).tolist(), "split": items["split"].tolist(),
         "cache_row": list(range(len(items))), "frame_indices": items["frame_indices"].tolist()},
        OCP_SCHEMA,
    )
    chance = scenario_chance(items)
    meta = provenance("prepare_ocp", ocp.shaping(), ocp_set_name=name, clip=clip.shaping(),
                      cache_shape=list(clips.shape), chance=chance)
    # Cache first, table second: the table is the file downstream rules key on.
    save_npy(out_cache, clips)
    write_table(table, out_table, metadata=meta)
    counts = items.groupby(["split", "label"]).size().to_dict()
    log.info("OCP set %s: %d clips %s, scenarios %s, (split, touches) counts %s", name, len(items), clips.shape,
             sorted(items["scenario"].unique()), counts)
    return len(items)
