"""Train/test splits of a labelled benchmark, and the check that what survived decoding is usable.

Split modes (:func:`assign_splits`):

- ``manifest``: the source's own ``split`` column (UCF-101 split lists, SSv2 train/validation, a
  manifest's ``split``); every row must have one (``manifest.validate_manifest`` enforces it).
- ``stratified``: per class, ``round(test_fraction * n)`` items to test, clamped to ``[1, n - 1]``,
  chosen with a seeded generator; so every class with two or more items is on both sides.
- ``grouped``: the same, but over the items' ``group`` values: all items of one group land on one
  side (the ToyBox exemplar split keeps each object identity out of the other side). Groups are
  stratified by their label; a group mixing labels counts for its most frequent label (ties: the
  first in sorted order).
- ``auto`` (default): ``manifest`` when the items carry a split, else ``stratified``.

This is a per-class draw rather than ``benchmarks.stratified_split`` (scikit-learn's
``train_test_split(stratify=...)``): scikit-learn sizes the test set globally and fails when it has
fewer items than there are classes (10 classes of 2 items at 30 % test), and it does not promise
that every class appears on both sides; the per-class draw does both, and the grouped split needs
it anyway. Items are ordered by ``item_id`` before drawing, so the split does not depend on the
order in which a folder was listed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from devcurriculum.config import LabelledSource
from devcurriculum.evalsets.labelled.manifest import SPLITS, TEST, TRAIN, LabelledDataError

log = logging.getLogger("devcurriculum.evalsets.labelled.splits")

SplitMode = Literal["auto", "manifest", "stratified", "grouped"]
SPLIT_MODES = ("auto", "manifest", "stratified", "grouped")


def _test_count(n: int, test_fraction: float) -> int:
    """``round(test_fraction * n)`` clamped to ``[1, n - 1]`` (0 when ``n < 2``: nothing to split)."""
    if n < 2:
        return 0
    return int(min(max(np.floor(test_fraction * n + 0.5), 1), n - 1))


def _dominant_label(labels: Sequence[str]) -> str:
    counts = Counter(labels)
    top = max(counts.values())
    return min(label for label, c in counts.items() if c == top)


def split_by_groups(
    labels: Sequence[str], groups: Sequence[str], *, test_fraction: float, seed: int
) -> np.ndarray:
    """``train``/``test`` per item: whole groups drawn to test, stratified by each group's label.

    Within each label (sorted), that label's groups (sorted) are permuted with
    ``numpy.random.default_rng(seed)`` and the first ``round(test_fraction * n_groups)`` (at least
    one, at most all but one) go to test. A label with a single group stays in train; the
    usability check then names it.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    labels_arr = np.asarray(labels, dtype=object)
    groups_arr = np.asarray(groups, dtype=object)
    if labels_arr.shape != groups_arr.shape:
        raise ValueError(f"labels and groups differ in length: {len(labels_arr)} vs {len(groups_arr)}")
    members: dict[str, list[str]] = {}
    for group in sorted(set(groups_arr.tolist())):
        members.setdefault(_dominant_label(labels_arr[groups_arr == group].tolist()), []).append(group)
    rng = np.random.default_rng(seed)
    test_groups: set[str] = set()
    for label in sorted(members):
        label_groups = members[label]
        order = rng.permutation(len(label_groups))
        test_groups.update(label_groups[i] for i in order[: _test_count(len(label_groups), test_fraction)])
    in_test = np.fromiter((g in test_groups for g in groups_arr.tolist()), dtype=bool, count=len(groups_arr))
    return np.where(in_test, TEST, TRAIN).astype(object)


def stratified_split(labels: Sequence[str], *, test_fraction: float, seed: int) -> np.ndarray:
    """Per-class seeded split of single items (:func:`split_by_groups` with one group per item)."""
    return split_by_groups(labels, [str(i) for i in range(len(labels))], test_fraction=test_fraction, seed=seed)


def assign_splits(
    items: pd.DataFrame,
    *,
    mode: SplitMode = LabelledSource.split,
    test_fraction: float = LabelledSource.test_fraction,
    seed: int = LabelledSource.seed,
) -> pd.DataFrame:
    """A copy of ``items`` (columns ``item_id, label, split, group``, ...) with ``split`` filled.

    See the module docstring for the modes. ``grouped`` needs a ``group`` value on every item
    (a ``video_manifest`` names its group column; ToyBox and UCF-101 set one).
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"split mode must be one of {list(SPLIT_MODES)}, got {mode!r}")
    out = items.copy()
    has_split = "split" in out.columns and out["split"].notna().any()
    if mode == "auto":
        mode = "manifest" if has_split else "stratified"
    if mode == "manifest":
        if not has_split or out["split"].isna().any() or not out["split"].isin(SPLITS).all():
            raise LabelledDataError(
                "split mode 'manifest' needs a train/test split on every item, but the source gives none "
                "(use split mode 'stratified' or 'grouped')"
            )
        return out
    if has_split:
        log.warning("the source's own train/test split is replaced by a %s split (as configured)", mode)
    order = np.argsort(out["item_id"].astype(str).to_numpy(), kind="stable")
    labels = out["label"].astype(str).to_numpy()[order]
    if mode == "stratified":
        drawn = stratified_split(labels.tolist(), test_fraction=test_fraction, seed=seed)
    else:
        if "group" not in out.columns or out["group"].isna().any():
            raise LabelledDataError(
                "split mode 'grouped' needs a group on every item (configure the manifest's group column); "
                f"{int(out['group'].isna().sum()) if 'group' in out.columns else len(out)} item(s) have none"
            )
        groups = out["group"].astype(str).to_numpy()[order]
        drawn = split_by_groups(labels.tolist(), groups.tolist(), test_fraction=test_fraction, seed=seed)
    split = np.empty(len(out), dtype=object)
    split[order] = drawn
    out["split"] = pd.Series(split, index=out.index, dtype="string")
    return out


def check_usable(items: pd.DataFrame, *, where: str, require_split: bool = True) -> None:
    """Fail with ONE message if the items cannot make a benchmark; otherwise return.

    Problems, all reported together, naming the classes: classes with fewer than 2 items, an
    empty train or test split, and classes missing from the train or from the test split (a class
    never seen in train can never be predicted; one never tested is not measured).
    ``require_split=False`` checks class sizes only (before a split exists).
    """
    problems: list[str] = []
    counts = items["label"].astype(str).value_counts()
    small = sorted(counts[counts < 2].index.tolist())
    if len(items) == 0:
        problems.append("no usable items")
    if small:
        listed = ", ".join(f"{c!r} ({counts[c]})" for c in small)
        problems.append(f"class(es) with fewer than 2 usable items: {listed}")
    if require_split and len(items):
        split = items["split"].astype("string")
        for name in SPLITS:
            if not (split == name).any():
                problems.append(f"the {name} split is empty")
        all_classes = set(counts.index)
        for name in SPLITS:
            present = set(items.loc[(split == name).to_numpy(), "label"].astype(str))
            absent = sorted(all_classes - present - set(small))
            if absent and (split == name).any():
                problems.append(f"class(es) with no {name} item: {', '.join(map(repr, absent))}")
    if problems:
        raise LabelledDataError(f"{where}: cannot build the benchmark: " + "; ".join(problems))


def limit_per_class(manifest: pd.DataFrame, *, per_class: int | None) -> pd.DataFrame:
    """The first ``per_class`` rows of each (label, split) in manifest order; all rows if ``None``.

    Taking the first rows, not a random subset, means a new split seed never changes which items
    are in the benchmark.
    """
    if per_class is None:
        return manifest
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1 or None, got {per_class}")
    keys = [manifest["label"].astype(str), manifest["split"].astype("string").fillna("")]
    rank = manifest.groupby(keys, sort=False).cumcount()
    return manifest.loc[rank < per_class].reset_index(drop=True)
