"""The published VoE benchmarks' layouts: IntPhys paired by divergence (first frames that coincide do not
fool it), GRASP's P_/IP_ folders paired by file name, InfLevel-lab's metadata CSVs with their priming
segments cut and the pair aligned on its end; built here as small fixtures in the notes' file naming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devcurriculum.config import ClipConfig, GraspVoESource, InflevelVoESource, IntPhysVoESource
from devcurriculum.datasets.decode import resize_short_side_and_center_crop
from devcurriculum.datasets.manifest import ManifestError
from devcurriculum.evalsets.voe import prepare_voe
from devcurriculum.evalsets.voe_layouts import aligned_starts, breaking_points, divergence_matches
from voe_fixtures import build_intphys, write_movie

CLIP = ClipConfig(frames=4, frame_step=2, stride=4, size=16)


def _prepare(tmp_path: Path, voe_set) -> tuple[pd.DataFrame, np.ndarray]:
    out = tmp_path / "out"
    prepare_voe(name="s", voe_set=voe_set, clip=CLIP, demo=None, age_groups=None, out_table=out / "s.parquet",
                out_cache=out / "s.npy")
    return pd.read_parquet(out / "s.parquet"), np.load(out / "s.npy")


# ---- IntPhys ------------------------------------------------------------------------------------


def test_matches_are_the_references_get_matches() -> None:
    def movie(diverge: int) -> np.ndarray:
        clip = np.zeros((10, 2, 2, 3), np.uint8)
        clip[diverge:] = 1
        return clip

    base = np.zeros((10, 2, 2, 3), np.uint8)
    assert breaking_points([base, movie(3), movie(7), base]) == [3, 7, 10]  # never diverges: its length
    assert divergence_matches([base, movie(3), movie(7), movie(2)]) == [(0, 2), (1, 3)]
    assert divergence_matches([base, movie(7), movie(3), movie(2)]) == [(0, 1), (2, 3)]
    assert divergence_matches([base, movie(2), movie(3), movie(7)]) == [(0, 3), (1, 2)]
    assert divergence_matches([base, movie(5), movie(5), movie(2)]) == [(0, 1), (2, 3)]  # a tie: the first


def test_intphys_pairs_by_divergence_when_every_first_frame_coincides(tmp_path: Path) -> None:
    root = tmp_path / "intphys"
    # A and B begin alike (so do all four movies); the impossible movies' folders come in the order that
    # pairs them wrongly by folder order or by first-frame similarity (ties keep the order)
    names = {"A": "1", "B": "2", "BA": "3", "AB": "4"}
    movies = build_intphys(root, blocks=("O1",), scenes=2, n_frames=12, size=24, splice=8, shared=4, names=names)
    assert all(np.array_equal(quad["A"][0], quad[other][0]) for quad in movies.values() for other in ("B", "AB", "BA"))
    table, cache = _prepare(tmp_path, IntPhysVoESource(root=str(root), blocks={"O1": "object_permanence"}, frames=6))
    assert len(table) == 8 and table["pair_id"].nunique() == 4
    for pair_id, pair in table.groupby("pair_id"):
        quad = movies[pair_id.rsplit("/", 1)[0]]
        stored = {name: resize_short_side_and_center_crop(frames[::2][:6], 16) for name, frames in quad.items()}
        possible = cache[pair.loc[pair["possible"], "cache_row"].item()]
        impossible = cache[pair.loc[~pair["possible"], "cache_row"].item()]
        partner = next(n for n in ("A", "B") if np.array_equal(possible, stored[n]))
        assert np.array_equal(impossible, stored["AB" if partner == "A" else "BA"]), pair_id
    assert set(table["onset_frame"]) == {4}  # spliced at source frame 8 = stored frame 4


def test_intphys_divergence_that_pairs_two_possible_movies_is_named(tmp_path: Path) -> None:
    root = tmp_path / "intphys"
    build_intphys(root, blocks=("O1",), scenes=1, n_frames=12, size=24, splice=8)
    # relabel: A|B possible, B impossible -> the divergence pairs B with B|A, both impossible
    for folder, possible in (("4", True), ("1", False)):
        (root / "O1" / "01" / folder / "status.json").write_text(json.dumps({"header": {"is_possible": possible}}))
    with pytest.raises(ManifestError, match=r"IntPhys scene O1/01: movies 1 and 2 pair by divergence but are both impossible"):
        _prepare(tmp_path, IntPhysVoESource(root=str(root), blocks={"O1": "object_permanence"}, frames=6))


# ---- GRASP --------------------------------------------------------------------------------------


def _video(seed: int, n: int, size: int = 24, jump_at: int | None = None) -> np.ndarray:
    """A still textured scene with a square that moves one pixel a frame (from ``jump_at`` on: far away)."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(rng.integers(0, 255, size=(1, size, size, 3), dtype=np.uint8), n, axis=0)
    for t in range(n):
        x = t % (size - 6) if jump_at is None or t < jump_at else (t + size // 2) % (size - 6)
        frames[t, 8:14, x : x + 6] = 255
    return frames


def test_grasp_folders_pair_by_file_name(tmp_path: Path) -> None:
    from devcurriculum.demo.video import write_mp4

    root = tmp_path / "GRASP" / "level2"
    for prop in ("Continuity", "ObjectPermanence"):
        for seed in (0, 1, 2):
            write_mp4(_video(seed, 20), root / f"P_{prop}" / f"{seed:03d}.mp4", fps=50)
            write_mp4(_video(seed, 20, jump_at=5), root / f"IP_{prop}" / f"{seed:03d}.mp4", fps=50)
    table, cache = _prepare(tmp_path, GraspVoESource(root=str(root), frames=5))
    assert sorted(table["property"].unique()) == ["Continuity", "ObjectPermanence"]
    assert table.groupby("pair_id")["possible"].apply(sorted).map(tuple).unique().tolist() == [(False, True)]
    assert sorted(table["pair_id"].unique()) == [f"{p}/{s:03d}" for p in ("Continuity", "ObjectPermanence") for s in range(3)]
    assert cache.shape == (12, 5, 16, 16, 3)
    only = _prepare(tmp_path, GraspVoESource(root=str(root), properties=("Continuity",), frames=5))[0]
    assert set(only["property"]) == {"Continuity"} and len(only) == 6
    (root / "IP_Continuity" / "002.mp4").unlink()
    with pytest.raises(ManifestError, match=r"GRASP property Continuity: \['002.mp4'\] in only one of P_Continuity"):
        _prepare(tmp_path, GraspVoESource(root=str(root), frames=5))


# ---- InfLevel-lab -------------------------------------------------------------------------------


def test_inflevel_start_after_the_priming_aligned_on_the_end() -> None:
    # vid1: 40 frames, priming ends at 20 -> 19 after it; vid2: 44 frames, priming ends at 22 -> 21 after it
    assert aligned_starts(40, 20, 44, 22) == (21, 25)  # vid2 shifted by 2: both keep 19 frames
    assert aligned_starts(44, 22, 40, 20) == (25, 21)
    assert aligned_starts(40, 20, 40, 20) == (21, 21)


def test_inflevel_csv_rows_are_pairs_read_after_their_priming(tmp_path: Path) -> None:
    from devcurriculum.demo.video import write_mp4

    root = tmp_path / "inflevel_lab"
    rows = []
    for k, (code_p, code_i) in enumerate((("vv", "vi"), ("ii", "iv"))):
        paths = [f"continuity/center__continuity__cup__clover__{code}__LR.mp4" for code in (code_p, code_i)]
        lengths, ends = (30, 34), (12, 14)  # the impossible video is longer: it is shifted by 2
        for path, n, seed in zip(paths, lengths, (2 * k, 2 * k + 1), strict=True):
            write_mp4(_video(seed, n), root / path, fps=25)
        rows.append({"vid1_path": paths[0], "vid1_start_priming_1": 0, "vid1_end_priming_1": 0,
                     "vid1_start_priming_2": ends[0] - 14, "vid1_end_priming_2": ends[0], "vid1_label": "possible",
                     "vid2_path": paths[1], "vid2_start_priming_1": 0, "vid2_end_priming_1": 0,
                     "vid2_start_priming_2": ends[1] - 14, "vid2_end_priming_2": ends[1], "vid2_label": "impossible"})
    meta = tmp_path / "auxiliary"
    meta.mkdir()
    pd.DataFrame(rows).to_csv(meta / "continuity.csv", index=False)
    source = InflevelVoESource(root=str(root), metadata=str(meta), properties=("continuity",), frames=4, frame_step=3)
    table, cache = _prepare(tmp_path, source)
    assert table["pair_id"].tolist() == ["continuity/00001"] * 2 + ["continuity/00002"] * 2
    assert table["possible"].tolist() == [True, False, True, False] and set(table["property"]) == {"continuity"}
    from devcurriculum.datasets.decode import read_frames

    # vid1 from frame 13 (after the priming ending at 12), vid2 from 14 + 2 + 1 = 17: frames 13, 16, 19, 22 / 17, ...
    for row, (path, first) in enumerate(((rows[0]["vid1_path"], 13), (rows[0]["vid2_path"], 17))):
        expected = resize_short_side_and_center_crop(read_frames(root / path, first + 3 * np.arange(4)), 16)
        assert np.array_equal(cache[table["cache_row"].iloc[row]], expected), path
    bad = pd.DataFrame(rows).assign(vid2_label="possible")
    bad.to_csv(meta / "continuity.csv", index=False)
    with pytest.raises(ManifestError, match=r"continuity.csv row 1: labels \['possible', 'possible'\]"):
        _prepare(tmp_path, source)
    with pytest.raises(ManifestError, match=r"InfLevel property gravity: .*gravity.csv not found"):
        _prepare(tmp_path, InflevelVoESource(root=str(root), metadata=str(meta), properties=("gravity",), frames=4))


def test_write_movie_fixture_is_the_intphys_layout(tmp_path: Path) -> None:
    write_movie(tmp_path / "1", np.zeros((2, 4, 4, 3), np.uint8), possible=False)
    assert sorted(p.name for p in (tmp_path / "1" / "scene").iterdir()) == ["scene_001.png", "scene_002.png"]
    assert json.loads((tmp_path / "1" / "status.json").read_text()) == {"header": {"is_possible": False}}
