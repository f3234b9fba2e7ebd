"""Corpus fractions: nested, seeded subsets of each age group's videos, their keys and hours."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from devcurriculum.datasets.fractions import (
    epoch_steps,
    fraction_hours,
    fraction_key,
    fraction_label,
    fraction_videos,
    parse_fraction,
    parse_fraction_key,
    subset_pools,
    video_order,
)

FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)


def corpus(per_group: dict[str, int]) -> pd.DataFrame:
    """A video index: ``n`` usable videos per group (durations 10 s, 20 s, ...), plus two unusable ones."""
    rows = []
    for group, n in per_group.items():
        rows += [{"video_id": f"{group}-v{i:02d}", "age_group": group, "duration_s": 10.0 * (i + 1), "status": "ok"}
                 for i in range(n)]
    rows += [{"video_id": "broken", "age_group": "g0", "duration_s": 5.0, "status": "error"},
             {"video_id": "too-old", "age_group": None, "duration_s": 7.0, "status": "ok"}]
    return pd.DataFrame(rows)


def chosen(videos: pd.DataFrame, fraction: float, seed: int) -> dict[str, list[str]]:
    picked = fraction_videos(videos, fraction, seed)
    return {g: part["video_id"].tolist() for g, part in picked.groupby("age_group")}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_a_fractions_videos_contain_every_smaller_fractions_in_each_group(seed: int) -> None:
    videos = corpus({"g0": 8, "g1": 13, "g2": 5})
    subsets = [chosen(videos, f, seed) for f in FRACTIONS]
    for small, large in itertools.pairwise(subsets):
        for group, ids in small.items():
            assert set(ids) <= set(large[group]), (group, ids, large[group])
            assert large[group][: len(ids)] == ids  # the same order, a longer prefix
    for fraction, subset in zip(FRACTIONS, subsets, strict=True):
        for group, n in {"g0": 8, "g1": 13, "g2": 5}.items():
            assert len(subset[group]) == math.ceil(fraction * n)
    # fraction 1 is every usable video: the error row and the video outside every group are never drawn
    every = sorted(v for ids in subsets[-1].values() for v in ids)
    assert every == sorted(videos.loc[videos["status"].eq("ok") & videos["age_group"].notna(), "video_id"])


def test_the_order_is_seeded_by_video_and_does_not_depend_on_the_other_videos() -> None:
    videos = corpus({"g0": 12})
    assert chosen(videos, 0.25, seed=3) == chosen(videos.sample(frac=1.0, random_state=0), 0.25, seed=3)
    assert chosen(videos, 0.25, seed=3) != chosen(videos, 0.25, seed=4)
    ids = videos.loc[videos["age_group"] == "g0", "video_id"].tolist()
    with_new = video_order([*ids, "g0-new"], seed=3)
    assert [v for v in with_new if v != "g0-new"] == video_order(ids, seed=3)  # a new video only inserts itself


def test_hours_of_a_subset_sum_its_durations_over_every_group() -> None:
    videos = corpus({"g0": 4, "g1": 4})
    picked = fraction_videos(videos, 0.5, seed=0)
    assert len(picked) == 4
    assert fraction_hours(videos, 0.5, seed=0) == pytest.approx(picked["duration_s"].sum() / 3600)
    assert fraction_hours(videos, 1.0, seed=5) == pytest.approx(2 * (10 + 20 + 30 + 40) / 3600)


@pytest.mark.parametrize(("text", "value"), [("1/8", 0.125), (" 3 / 4 ", 0.75), (0.5, 0.5), (1, 1.0), ("1/1", 1.0)])
def test_fractions_are_numbers_or_ratios(text: object, value: float) -> None:
    assert parse_fraction(text) == value  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["3/2", "1/0", "0/4", 0, -0.5, 1.5, "half", True, float("nan")])
def test_a_bad_fraction_names_the_key(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^runs\[0\]\.data_fractions\[2\]: "):
        parse_fraction(bad, "runs[0].data_fractions[2]")  # type: ignore[arg-type]


def test_fraction_keys_round_trip_and_the_whole_corpus_has_none() -> None:
    assert fraction_key(1.0) == fraction_key(1.0, "epochs") == ""
    assert fraction_key(0.125) == "@frac0.125"
    assert fraction_key(1 / 3, "epochs") == "@frac0.333333-epochs"
    for fraction, budget in ((0.125, "steps"), (0.5, "epochs"), (1.0, "steps")):
        assert parse_fraction_key(fraction_key(fraction, budget)) == (fraction, budget)
    with pytest.raises(ValueError, match="not a fraction key"):
        parse_fraction_key("@frac2")
    assert [fraction_label(f) for f in (0.125, 1 / 3, 1.0, 0.3)] == ["1/8", "1/3", "1", "3/10"]
    assert [epoch_steps(250, f) for f in (1 / 8, 1 / 4, 1.0, 1e-4)] == [31, 62, 250, 1]


def test_pools_keep_the_clips_of_the_fractions_videos() -> None:
    videos = corpus({"g0": 4, "g1": 2})
    clip_videos = ["g0-v00", "g0-v00", "g0-v01", "g0-v02", "g0-v03", "g1-v00", "g1-v01", "g1-v01"]
    table = pd.DataFrame({"video_id": clip_videos})
    pools = {"g0": np.arange(5), "g1": np.arange(5, 8)}
    kept = subset_pools(table, pools, videos, 0.5, seed=2)
    wanted = set(fraction_videos(videos, 0.5, seed=2)["video_id"])
    for group, pool in kept.items():
        assert set(pool) <= set(pools[group])
        assert {clip_videos[i] for i in pool} <= wanted
        assert [i for i in pools[group] if clip_videos[i] in wanted] == pool.tolist()
    # a group whose chosen video has no clip: one line naming the group
    with pytest.raises(ValueError, match="age group 'g1' keeps no clip"):
        subset_pools(table, {"g0": np.arange(5), "g1": np.arange(0)}, videos, 0.5, seed=2)
