"""Complexity controls: the measures, matched pools that have the target's distribution, static frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.config import ConfigError, ControlConfig, CurriculumConfig, WorkflowConfig
from devcurriculum.curriculum.complexity import clip_complexity, edge_density, motion_energy
from devcurriculum.curriculum.controls import (
    COMPLEXITY_SCHEMA,
    StaticClips,
    control_pools,
    ks_statistic,
    match_pool,
    measure_complexity,
    run_control,
)
from devcurriculum.curriculum.preview import CONTROL_FIELDS, PREVIEW_FILE_SCHEMA, build_preview
from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.datasets.clips import CLIP_SCHEMA
from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.serialize import save_npy

#: one bin of 10 bounds the matched KS distance from above (the CDFs agree at every bin edge)
BINS = 10


def test_vectorised_measures_equal_the_per_clip_definitions() -> None:
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (5, 4, 9, 7, 3), dtype=np.uint8)
    clips[2] = clips[2, :1]  # a still clip
    spatial, temporal = clip_complexity(clips)
    for k in range(len(clips)):
        assert spatial[k] == pytest.approx(edge_density(clips[k]), abs=1e-12)
        assert temporal[k] == pytest.approx(motion_energy(clips[k]), rel=1e-6)
    assert temporal[2] == 0.0 and temporal[0] > 0
    # a flat grey frame has no edges; a checkerboard of 0 / 255 is all edges but its last row/column
    flat = np.full((1, 2, 8, 8, 3), 128, dtype=np.uint8)
    board = np.indices((8, 8)).sum(axis=0) % 2 * 255
    checker = np.broadcast_to(board[None, None, :, :, None], (1, 2, 8, 8, 3)).astype(np.uint8)
    assert clip_complexity(flat)[0].tolist() == [0.0] and clip_complexity(checker)[0].tolist() == [1.0]
    assert clip_complexity(clips[:, :1])[1].tolist() == [0.0] * 5  # single frames have no motion
    with pytest.raises(ValueError, match=r"clips must be \(B, T, H, W, 3\)"):
        clip_complexity(clips[..., 0])


def test_ks_statistic_matches_scipy() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 1.2, 500)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert ks_statistic(a, a) == 0.0


def test_a_matched_pool_has_the_targets_distribution_and_the_unmatched_one_does_not() -> None:
    rng = np.random.default_rng(2)
    target = rng.beta(2, 8, 3000)  # simple, young: low values
    candidates = rng.beta(3, 4, 30000)  # older: more complex, but they reach as low
    matched = match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=0.0)
    pool = candidates[matched.indices]
    assert ks_statistic(candidates, target) > 0.4
    assert ks_statistic(pool, target) < 1 / BINS
    # the largest multiple of the target's cell counts the scarcest cell allows, from every cell
    assert len(pool) == pytest.approx(matched.ratio * len(target), rel=0.01) and matched.shortfall == 0.0
    assert pool.min() >= target.min() and pool.max() <= target.max()
    assert len(set(matched.indices.tolist())) == len(pool)  # without replacement
    # seeded: the same seed draws the same pool, another seed another pool of the same size
    again = match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=0.0)
    other = match_pool(target, candidates, BINS, np.random.default_rng(1), tolerance=0.0)
    assert np.array_equal(again.indices, matched.indices)
    assert len(other.indices) == len(matched.indices) and not np.array_equal(other.indices, matched.indices)


def test_spatiotemporal_matching_matches_both_measures() -> None:
    rng = np.random.default_rng(3)
    target = np.column_stack([rng.beta(2, 8, 4000), rng.gamma(2.0, 1.0, 4000)])
    candidates = np.column_stack([rng.beta(3, 4, 60000), rng.gamma(4.0, 1.5, 60000)])
    matched = match_pool(target, candidates, 5, np.random.default_rng(0), tolerance=0.0)
    pool = candidates[matched.indices]
    for j in (0, 1):
        assert ks_statistic(candidates[:, j], target[:, j]) > 0.4
        assert ks_statistic(pool[:, j], target[:, j]) < 1 / 5
    # matching one measure leaves the other as it was: spatial alone does not match motion
    alone = match_pool(target[:, :1], candidates[:, :1], BINS, np.random.default_rng(0), tolerance=0.0)
    spatial_only = candidates[alone.indices]
    assert ks_statistic(spatial_only[:, 0], target[:, 0]) < 1 / BINS
    assert ks_statistic(spatial_only[:, 1], target[:, 1]) > 0.3


def test_cells_without_candidates_are_dropped_and_reported() -> None:
    target = np.linspace(0.0, 1.0, 1000)
    candidates = np.linspace(0.5, 2.0, 1000)  # nothing below 0.5: half the target's mass cannot be matched
    matched = match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=0.0)
    assert matched.shortfall == pytest.approx(0.5, abs=0.01)
    assert candidates[matched.indices].max() <= 1.0 and candidates[matched.indices].min() >= 0.5
    assert match_pool(target, candidates + 5, BINS, np.random.default_rng(0), tolerance=0.0).indices.size == 0


def test_a_tolerance_trades_a_little_of_the_match_for_a_larger_pool() -> None:
    rng = np.random.default_rng(7)
    target = rng.beta(2, 8, 3000)
    candidates = rng.beta(4, 5, 30000)  # few as simple as the target's simplest clips
    exact = match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=0.0)
    loose = match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=0.05)
    assert exact.shortfall == 0.0 and 0.0 < loose.shortfall <= 0.05 + 1e-9
    assert len(loose.indices) > 1.5 * len(exact.indices)
    assert ks_statistic(candidates[loose.indices], target) < 1 / BINS + 0.05
    assert ks_statistic(candidates, target) > 0.5
    with pytest.raises(ValueError, match=r"tolerance must be in \[0, 1\)"):
        match_pool(target, candidates, BINS, np.random.default_rng(0), tolerance=1.0)


def _complexity(n: dict[str, int], seed: int = 4) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A complexity table: g0 simple and slow, g1 and g2 ever more cluttered and moving, with a share of simple,
    slow clips too (older infants also look at ceilings)."""
    rng = np.random.default_rng(seed)
    rows, pools, start = [], {}, 0
    for k, (group, count) in enumerate(n.items()):
        # independent measures: a simple view may move, a cluttered one stand still
        spatial = np.where(rng.random(count) < 0.2, rng.beta(2, 8, count), rng.beta(2 + 2 * k, 8 - 2 * k, count))
        temporal = np.where(rng.random(count) < 0.2, rng.gamma(2.0, 1.0, count), rng.gamma(2.0 + 2 * k, 1.0 + k, count))
        rows.append(pd.DataFrame({"clip_id": [f"{group}:{i}" for i in range(count)], "age_group": group,
                                  "spatial": spatial, "temporal": temporal}))
        pools[group] = np.arange(start, start + count)
        start += count
    return pd.concat(rows, ignore_index=True), pools


@pytest.mark.parametrize("match", ["spatial", "temporal", "spatiotemporal"])
def test_control_pools_match_the_older_groups_to_the_youngest(match: str) -> None:
    table, pools = _complexity({"g0": 3000, "g1": 20000, "g2": 20000})
    control = ControlConfig(match=match, bins=5 if match == "spatiotemporal" else BINS)
    matched, report = control_pools(control, pools, table, ["g0", "g1", "g2"], name="ms")
    assert np.array_equal(matched["g0"], pools["g0"])  # the target keeps its whole pool
    measured = {"spatial": ["spatial"], "temporal": ["temporal"], "spatiotemporal": ["spatial", "temporal"]}[match]
    other = {"spatial": ["temporal"], "temporal": ["spatial"], "spatiotemporal": []}[match]
    target = table.iloc[pools["g0"]]
    for group in ("g1", "g2"):
        pool, whole = table.iloc[matched[group]], table.iloc[pools[group]]
        assert set(matched[group].tolist()) < set(pools[group].tolist())
        assert (pool["age_group"] == group).all()
        for column in measured:  # matched: about a bin plus the shortfall from the target, far closer than before
            assert ks_statistic(whole[column], target[column]) > 0.3
            assert ks_statistic(pool[column], target[column]) < 0.2
        for column in other:  # the measure not matched keeps its own, older distribution
            assert ks_statistic(pool[column], target[column]) > 0.3
        assert report[group]["clips"] == len(pool) and report[group]["ks"] < 0.2 and len(pool) > 500
        assert report[group]["shortfall"] <= control.tolerance + 1e-9  # every bin has some of g1's and g2's clips
    assert report["g0"]["ks"] == 0.0


def test_control_target_and_errors() -> None:
    table, pools = _complexity({"g0": 500, "g1": 500, "g2": 500})
    # another target: g2's distribution; then g0 is matched up to it
    matched, _ = control_pools(ControlConfig(match="spatial", target="g2"), pools, table, ["g0", "g1", "g2"], name="x")
    assert np.array_equal(matched["g2"], pools["g2"]) and len(matched["g0"]) < len(pools["g0"])
    static_only, report = control_pools(ControlConfig(frames="static"), pools, table, ["g0", "g1", "g2"], name="x")
    assert report == {} and all(np.array_equal(static_only[g], pools[g]) for g in pools)
    far = table.assign(spatial=np.where(table["age_group"] == "g1", table["spatial"] + 5, table["spatial"]))
    with pytest.raises(ValueError, match=r"curricula.x.control: no clip of group g1 lies in the spatial range of the "
                                         r"target group g0"):
        control_pools(ControlConfig(match="spatial"), pools, far, ["g0", "g1", "g2"], name="x")
    with pytest.raises(ConfigError, match=r"curricula.\*.control: changes nothing"):
        ControlConfig()


class _Source:
    """A clip source recording the frames it was asked for."""

    def __init__(self, clips: np.ndarray) -> None:
        self.clips, self.clip_shape, self.asked = clips, clips.shape[1:], []

    def get(self, indices, frames=None):
        self.asked.append(None if frames is None else list(frames))
        picked = self.clips[np.asarray(indices)]
        return picked if frames is None else picked[:, list(frames)]


def test_static_clips_repeat_the_first_frame() -> None:
    clips = np.random.default_rng(5).integers(0, 256, (6, 5, 4, 4, 3), dtype=np.uint8)
    source = _Source(clips)
    static = StaticClips(source)
    got = static.get([4, 1, 1])
    assert got.shape == (3, 5, 4, 4, 3) and got.dtype == np.uint8
    for row, k in zip(got, (4, 1, 1), strict=True):
        assert all(np.array_equal(frame, clips[k, 0]) for frame in row)  # every frame is the clip's first
    assert source.asked == [[0]]  # only frame 0 is read
    assert static.get([0], frames=[1, 3]).shape == (1, 2, 4, 4, 3)
    assert clip_complexity(got)[1].tolist() == [0.0, 0.0, 0.0]  # no motion left
    assert static.clip_shape == clips.shape[1:]  # everything else is the source's


def _write_cache(folder: Path, group: str, clips: np.ndarray) -> tuple[Path, Path]:
    n = len(clips)
    columns = {"clip_id": [f"{group}:{i}" for i in range(n)], "video_id": [f"{group}v"] * n, "subject": ["s"] * n,
               "age_days": [1.0] * n, "age_group": [group] * n, "start_frame": list(range(n)), "frame_step": [1] * n,
               "n_frames": [clips.shape[1]] * n, "cache_row": list(range(n))}
    write_table(table_from_columns(columns, CLIP_SCHEMA), folder / f"{group}.parquet")
    save_npy(folder / f"{group}.npy", clips)
    return folder / f"{group}.parquet", folder / f"{group}.npy"


def test_measured_table_pools_and_preview_of_a_control(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    groups = ["g0", "g1", "g2"]
    files = []
    for k, group in enumerate(groups):
        # older groups: more pixels vary (clutter) and more change between frames (motion)
        base = np.full((60, 3, 8, 8, 3), 120, dtype=np.uint8)
        noise = rng.integers(-40, 41, base.shape) * (rng.random((60, 1, 1, 1, 1)) < 0.3 + 0.3 * k)
        files.append(_write_cache(tmp_path, group, np.clip(base + noise, 0, 255).astype(np.uint8)))
    tables, caches = [t for t, _ in files], [c for _, c in files]
    out = tmp_path / "complexity.parquet"
    measured = measure_complexity(clip_tables=tables, clip_caches=caches, groups=groups, out_path=out)
    written = pq.read_table(out)
    assert written.schema.remove_metadata().equals(COMPLEXITY_SCHEMA) and written.num_rows == 180
    cache = ClipCache.from_files(tables, caches, groups)
    spatial, temporal = clip_complexity(cache.get(np.arange(180)))
    assert np.allclose(measured["spatial"], spatial) and np.allclose(measured["temporal"], temporal)

    curriculum = CurriculumConfig.from_mapping({"order": groups, "control": {"match": "spatial", "bins": 2,
                                                                              "frames": "static"}})
    pools, source = run_control(curriculum, cache, out, groups, name="mst")
    assert isinstance(source, StaticClips) and np.array_equal(pools["g0"], cache.indices_of("g0"))
    assert len(pools["g2"]) < 60
    with pytest.raises(ValueError, match="curricula.mst.control.match is set: pass the complexity table"):
        run_control(curriculum, cache, None, groups, name="mst")

    png = tmp_path / "mst.png"
    preview = build_preview(name="mst", curriculum=curriculum, groups=groups, clip_tables=tables, difficulty=None,
                            steps_per_stage=6, bucket_steps=3, out_table=tmp_path / "mst.parquet", out_plot=png,
                            complexity=out)
    assert pq.read_table(tmp_path / "mst.parquet").schema.remove_metadata().equals(
        pa.schema([*PREVIEW_FILE_SCHEMA, *CONTROL_FIELDS]))
    by_stage = preview.groupby("stage").first()
    assert by_stage["control_clips"].tolist() == [len(pools[g]) for g in groups]
    assert by_stage["control_ks"].iloc[0] == 0.0 and preview["static_frames"].all()


def test_control_config_checks() -> None:
    base = {"data": {"age_groups": {"g0": [0, 120], "g1": [120, 240]}}, "models": {
        "m": {"objective": "videomae"}, "p": {"objective": "simclr", "gap_seconds": 3.0}}}
    ok = {**base, "curricula": {"c": {"order": ["g0", "g1"], "control": {"match": "spatial"}}},
          "runs": [{"models": ["m"], "curricula": ["c"]}]}
    assert WorkflowConfig.from_mapping(ok).curricula["c"].needs_complexity
    with pytest.raises(ConfigError, match=r"runs\[0\]: curricula.c.control.match \(complexity matching\) cannot run "
                                          r"with models.p.gap_seconds"):
        WorkflowConfig.from_mapping({**ok, "runs": [{"models": ["p"], "curricula": ["c"]}]})
    static = {**ok, "curricula": {"c": {"order": ["g0", "g1"], "control": {"frames": "static"}}},
              "runs": [{"models": ["p"], "curricula": ["c"]}]}
    assert not WorkflowConfig.from_mapping(static).curricula["c"].needs_complexity  # static frames work on pairs
    with pytest.raises(ConfigError, match=r"curricula.c.control.target: 'g7' is not an age group"):
        WorkflowConfig.from_mapping({**ok, "curricula": {"c": {"order": ["g0"], "control": {"match": "spatial",
                                                                                           "target": "g7"}}}})
    older_first = {**ok, "data": {"age_groups": {"g1": [120, 240], "g0": [0, 120]}}}
    with pytest.raises(ConfigError, match=r"curricula.c.control.target: null means the first group of "
                                          r"data.age_groups \(g1\), but the youngest is g0; name the target"):
        WorkflowConfig.from_mapping(older_first)
