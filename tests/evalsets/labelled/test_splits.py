"""Train/test splits (source-given, stratified, grouped) and the usability check."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from devcurriculum.evalsets.labelled.manifest import LabelledDataError
from devcurriculum.evalsets.labelled.splits import (
    assign_splits,
    check_usable,
    limit_per_class,
    split_by_groups,
    stratified_split,
)


def _items(labels: list[str], groups: list[str] | None = None, split: list[str] | None = None) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "item_id": [f"item{i:03d}" for i in range(n)],
            "label": labels,
            "split": pd.Series(split if split is not None else [pd.NA] * n, dtype="string"),
            "group": pd.Series(groups if groups is not None else [pd.NA] * n, dtype="string"),
            "cache_row": np.arange(n),
        }
    )


def test_stratified_split_puts_every_class_on_both_sides_in_proportion() -> None:
    labels = ["a"] * 10 + ["b"] * 2 + ["c"] * 3
    split = stratified_split(labels, test_fraction=0.3, seed=0)
    test = Counter(label for label, s in zip(labels, split, strict=True) if s == "test")
    assert test == {"a": 3, "b": 1, "c": 1}  # round(3.0), clamp(0.6 -> 1), round(0.9) = 1


def test_stratified_split_works_where_sklearn_sizing_fails() -> None:
    # 10 classes of 2 items at 30 % test: sklearn's global test size (6) < 10 classes and fails
    labels = [str(c) for c in range(10) for _ in range(2)]
    split = stratified_split(labels, test_fraction=0.3, seed=1)
    assert Counter(label for label, s in zip(labels, split, strict=True) if s == "test") == {str(c): 1 for c in range(10)}


def test_split_is_seeded_and_independent_of_row_order() -> None:
    labels = ["a"] * 8 + ["b"] * 8
    items = _items(labels)
    first = assign_splits(items, mode="stratified", test_fraction=0.25, seed=3)
    again = assign_splits(items, mode="stratified", test_fraction=0.25, seed=3)
    shuffled = assign_splits(items.sample(frac=1.0, random_state=0), mode="stratified", test_fraction=0.25, seed=3)
    other_seed = assign_splits(items, mode="stratified", test_fraction=0.25, seed=4)
    as_dict = lambda df: dict(zip(df["item_id"], df["split"], strict=True))  # noqa: E731
    assert as_dict(first) == as_dict(again) == as_dict(shuffled)
    assert as_dict(first) != as_dict(other_seed)


def test_grouped_split_keeps_every_group_on_one_side_and_stratifies_groups_by_label() -> None:
    # ToyBox-like: 2 categories x 5 objects x 3 videos; group = object identity
    labels, groups = [], []
    for category in ("cup", "car"):
        for obj in range(5):
            labels += [category] * 3
            groups += [f"{category}_{obj:02d}"] * 3
    items = assign_splits(_items(labels, groups), mode="grouped", test_fraction=0.4, seed=0)
    sides = items.groupby("group")["split"].nunique()
    assert (sides == 1).all(), "a group is split across train and test"
    test_groups = items.loc[items["split"] == "test"].groupby("label")["group"].nunique()
    assert test_groups.to_dict() == {"car": 2, "cup": 2}  # 40 % of 5 objects of each category
    check_usable(items, where="toybox")


def test_grouped_split_of_mixed_label_groups_uses_the_dominant_label() -> None:
    labels = ["a", "a", "b", "a", "b", "b", "a", "b"]
    groups = ["g1", "g1", "g1", "g2", "g2", "g2", "g3", "g4"]  # g1 mostly a, g2 mostly b
    split = split_by_groups(labels, groups, test_fraction=0.5, seed=0)
    for group in set(groups):
        assert len({s for s, g in zip(split, groups, strict=True) if g == group}) == 1


def test_auto_mode_uses_the_source_split_and_manifest_mode_requires_one() -> None:
    given = _items(["a", "a", "b", "b"], split=["train", "test", "test", "train"])
    assert assign_splits(given)["split"].tolist() == ["train", "test", "test", "train"]
    with pytest.raises(LabelledDataError, match="needs a train/test split on every item"):
        assign_splits(_items(["a", "a"]), mode="manifest")
    with pytest.raises(LabelledDataError, match="needs a group on every item"):
        assign_splits(_items(["a", "a"]), mode="grouped")
    with pytest.raises(ValueError, match="split mode must be one of"):
        assign_splits(given, mode="random")


def test_check_usable_names_all_bad_classes_in_one_message() -> None:
    items = _items(["a", "a", "a", "b", "c"], split=["train", "test", "train", "train", "test"])
    with pytest.raises(LabelledDataError) as err:
        check_usable(items, where="benchmarks.x")
    message = str(err.value)
    assert message.startswith("benchmarks.x: cannot build the benchmark")
    assert "class(es) with fewer than 2 usable items: 'b' (1), 'c' (1)" in message


def test_check_usable_reports_empty_splits_and_classes_missing_from_a_split() -> None:
    with pytest.raises(LabelledDataError, match="the test split is empty"):
        check_usable(_items(["a", "a", "b", "b"], split=["train"] * 4), where="x")
    items = _items(["a", "a", "b", "b", "c", "c"], split=["train", "test", "train", "train", "test", "test"])
    with pytest.raises(LabelledDataError) as err:
        check_usable(items, where="x")
    assert "class(es) with no test item: 'b'" in str(err.value)
    assert "class(es) with no train item: 'c'" in str(err.value)


def test_grouped_split_with_a_single_group_class_fails_naming_it() -> None:
    items = assign_splits(
        _items(["a", "a", "a", "a", "b", "b"], ["a1", "a1", "a2", "a2", "b1", "b1"]), mode="grouped", seed=0
    )
    with pytest.raises(LabelledDataError, match="class\\(es\\) with no test item: 'b'"):
        check_usable(items, where="x")


def test_check_usable_without_split_checks_class_sizes_only() -> None:
    check_usable(_items(["a", "a", "b", "b"]), where="x", require_split=False)
    with pytest.raises(LabelledDataError, match="no usable items"):
        check_usable(_items([]), where="x", require_split=False)


def test_limit_per_class_keeps_the_first_items_of_each_class_and_split() -> None:
    items = _items(["a", "b", "a", "a", "b", "a"], split=["train", "train", "train", "test", "train", "train"])
    kept = limit_per_class(items, per_class=1)
    assert kept["item_id"].tolist() == ["item000", "item001", "item003"]
    assert limit_per_class(items, per_class=None) is items
