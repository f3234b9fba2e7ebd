"""The demo world's VoE quadruplets: two pairs each, identical before the onset and different from it on, on
the frames stored in the cache; the possible and the impossible movies of a quadruplet show the same frames."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devcurriculum.config import DEMO_VOE_PROPERTIES, ClipConfig, DemoConfig, DemoVoESource
from devcurriculum.demo.voe import render_voe_pairs, render_voe_quadruplets
from devcurriculum.evalsets.voe import prepare_voe

AGE_GROUPS = {"g0": (0.0, 120.0), "g1": (120.0, 400.0)}
#: (clip, demo size, fps): the .test config's tiny clips and the demo's
SIZES = [
    (ClipConfig(frames=4, frame_step=2, stride=6, size=16), 32, 10),
    (ClipConfig(frames=8, frame_step=2, stride=8, size=32), 96, 15),
]


def _stored(tmp_path: Path, voe: DemoVoESource, clip: ClipConfig, size: int, fps: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Prepare the set like the workflow does and read back what the cache holds."""
    table, cache = tmp_path / "voe.parquet", tmp_path / "voe.npy"
    prepare_voe(name="demo_physics", voe_set=voe, clip=clip, demo=DemoConfig(size=size, fps=fps), age_groups=AGE_GROUPS,
                out_table=table, out_cache=cache)
    return pd.read_parquet(table), np.load(cache)


@pytest.mark.parametrize(("clip", "size", "fps"), SIZES, ids=["test-size", "demo-size"])
def test_stored_pairs_are_identical_before_the_onset_and_differ_after_it(tmp_path, clip, size, fps) -> None:
    voe = DemoVoESource(pairs_per_property=4, frames=2 * clip.frames)
    items, cache = _stored(tmp_path, voe, clip, size, fps)
    assert cache.shape == (len(DEMO_VOE_PROPERTIES) * 4 * 2, 2 * clip.frames, clip.size, clip.size, 3)
    assert items.groupby("property").size().to_dict() == dict.fromkeys(DEMO_VOE_PROPERTIES, 8)
    for pair_id, pair in items.groupby("pair_id"):
        assert sorted(pair["possible"]) == [False, True], pair_id
        possible = cache[pair.loc[pair["possible"], "cache_row"].item()]
        impossible = cache[pair.loc[~pair["possible"], "cache_row"].item()]
        onset = int(pair["onset_frame"].iloc[0])
        assert 1 <= onset < len(possible), pair_id
        assert np.array_equal(possible[:onset], impossible[:onset]), pair_id
        for t in range(onset, len(possible)):
            assert not np.array_equal(possible[t], impossible[t]), (pair_id, t)


@pytest.mark.parametrize(("clip", "size", "fps"), SIZES, ids=["test-size", "demo-size"])
def test_quadruplets_splice_the_two_conditions_behind_the_occluder(clip, size, fps) -> None:
    frames = 10 if clip.frames == 8 else 8
    quadruplets = render_voe_quadruplets(DemoVoESource(pairs_per_property=4, frames=frames), world=DemoConfig().world,
                                         age_groups=AGE_GROUPS, clip=clip, size=size, fps=fps)
    assert Counter(q.prop for q in quadruplets) == dict.fromkeys(DEMO_VOE_PROPERTIES, 2)
    for q in quadruplets:
        m = q.splice
        # the splice frame is the same picture in both conditions (the target behind the occluder in both),
        # the first frame is not (the target shows in its condition before it goes behind)
        assert np.array_equal(q.a[m], q.b[m]) and not np.array_equal(q.a[0], q.b[0]), (q.prop, q.index)
        assert q.target.occluder is not None and replace(q.target, condition=1).occluder == q.target.occluder
        assert np.array_equal(q.a_then_b, np.concatenate([q.a[:m], q.b[m:]]))
        pair_a, pair_b = q.pairs()
        assert pair_a.onset == pair_b.onset > m  # both pairs part where the target comes out
        # balanced: possible and impossible movies show the same frames, only the pairing of beginnings and ends differs
        possible = Counter(frame.tobytes() for movie in (q.a, q.b) for frame in movie)
        impossible = Counter(frame.tobytes() for movie in (q.a_then_b, q.b_then_a) for frame in movie)
        assert possible == impossible, (q.prop, q.index)


def test_pairs_are_deterministic_and_independent_of_the_other_properties() -> None:
    clip, size, fps = SIZES[0]
    common = {"clip": clip, "size": size, "fps": fps, "world": DemoConfig().world, "age_groups": AGE_GROUPS}
    every = render_voe_pairs(DemoVoESource(pairs_per_property=2, frames=8), **common)
    again = render_voe_pairs(DemoVoESource(pairs_per_property=2, frames=8), **common)
    alone = render_voe_pairs(DemoVoESource(properties=("shape_constancy",), pairs_per_property=2, frames=8), **common)
    other_seed = render_voe_pairs(DemoVoESource(properties=("shape_constancy",), pairs_per_property=2, frames=8, seed=1),
                                  **common)
    for a, b in zip(every, again, strict=True):
        assert np.array_equal(a.possible, b.possible) and np.array_equal(a.impossible, b.impossible)
    shape_pairs = [p for p in every if p.prop == "shape_constancy"]
    for a, b in zip(shape_pairs, alone, strict=True):
        assert np.array_equal(a.impossible, b.impossible)
    assert not np.array_equal(alone[0].possible, other_seed[0].possible)


def test_an_odd_number_of_pairs_is_refused() -> None:
    from devcurriculum.config import ConfigError

    with pytest.raises(ConfigError, match="pairs_per_property"):
        DemoVoESource(pairs_per_property=5)
