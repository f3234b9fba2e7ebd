"""From a labelled manifest to checked ``(items, clips, status)``: the steps every source shares.

1. fail fast, before minutes of decoding, when the manifest itself cannot make a benchmark (a class
   with fewer than 2 items; with the source's own split, an empty split or a class missing from one);
2. decode (``loading.load_clips``): unusable items are recorded and skipped;
3. split (``splits.assign_splits``) the items that survived, by source item: the clips of one video
   (a multi-clip sampling policy) are never on both sides;
4. check again (``splits.check_usable``) and fail with one message naming the classes.

The result goes to ``writer.write_benchmark``.
"""

from __future__ import annotations

from collections import Counter
from typing import Unpack

import numpy as np
import pandas as pd

from devcurriculum.config import BENCHMARK_CONFIGS, LabelledSource
from devcurriculum.evalsets.labelled.loading import ClipLoading, Media, load_clips
from devcurriculum.evalsets.labelled.splits import SPLIT_MODES, SplitMode, assign_splits, check_usable

# What each source yields and how it splits by default (ToyBox: the exemplar split by object).
SOURCE_MEDIA: dict[str, Media] = {
    "video_manifest": "video",
    "video_folder": "video",
    "image_manifest": "image",
    "image_folder": "image",
    "ucf101": "video",
    "ssv2": "video",
    "toybox": "video",
    "cifar10": "image",
}
# The default split of each source is its config block's (the schema's).
DEFAULT_SPLIT_MODE: dict[str, SplitMode] = {
    source: cls.split for source, cls in BENCHMARK_CONFIGS.items() if issubclass(cls, LabelledSource)
}


def skipped_note(status: pd.DataFrame) -> str:
    """`` (3 unusable item(s) skipped: missing 2, truncated 1; first: 'a.mp4': missing: file not found)``, or ``""``.

    The usability error is raised before the status table is written, so it carries the gist itself.
    """
    errors = status.loc[status["status"] != "ok"]
    if errors.empty:
        return ""
    kinds = Counter(str(reason).split(":")[0] for reason in errors["reason"])
    summary = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
    first = errors.iloc[0]
    return f" ({len(errors)} unusable item(s) skipped: {summary}; first: {first['item_id']!r}: {first['reason']})"


def build_benchmark(
    manifest: pd.DataFrame,
    *,
    split_mode: SplitMode = LabelledSource.split,
    test_fraction: float = LabelledSource.test_fraction,
    seed: int = LabelledSource.seed,
    where: str = "benchmark",
    **loading: Unpack[ClipLoading],
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Decode, split and check a labelled manifest; returns ``(items, clips, status)``.

    ``items`` has ``item_id, label, split, group, cache_row``; ``where`` (e.g. ``benchmarks.ucf``)
    prefixes every error message. ``loading`` (``media``, ``frames``, ``size`` and the optional
    sampling keys) goes to ``loading.load_clips`` unchanged; the split arguments to
    ``splits.assign_splits``.
    """
    if split_mode not in SPLIT_MODES:
        raise ValueError(f"{where}: split mode must be one of {list(SPLIT_MODES)}, got {split_mode!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{where}: test_fraction must be in (0, 1), got {test_fraction}")
    uses_source_split = split_mode == "manifest" or (split_mode == "auto" and bool(manifest["split"].notna().any()))
    check_usable(manifest, where=f"{where} (before decoding)", require_split=uses_source_split)
    items, clips, status = load_clips(manifest, **loading)
    items = split_by_source_item(items, mode=split_mode, test_fraction=test_fraction, seed=seed)
    check_usable(items, where=f"{where}{skipped_note(status)}")
    return items, clips, status


def split_by_source_item(items: pd.DataFrame, *, mode: SplitMode, test_fraction: float, seed: int) -> pd.DataFrame:
    """``splits.assign_splits`` drawn over the source items (videos), each item taking its source's side.

    With one item per source this is ``assign_splits(items)`` itself; with several clips of one video
    the draw sees the video once (its first clip, under the video's id), so a stratified split counts
    videos, not clips.
    """
    if "source_item" not in items.columns or not items["source_item"].duplicated().any():
        return assign_splits(items, mode=mode, test_fraction=test_fraction, seed=seed)
    sources = items.drop_duplicates("source_item").assign(item_id=lambda d: d["source_item"])
    drawn = assign_splits(sources, mode=mode, test_fraction=test_fraction, seed=seed)
    side = dict(zip(drawn["item_id"].astype(str), drawn["split"].astype(str), strict=True))
    out = items.copy()
    out["split"] = pd.Series([side[str(s)] for s in out["source_item"]], index=out.index, dtype="string")
    return out
