"""VoE sets from a manifest and from an IntPhys-style folder: the validator, pairing, onsets, the written cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devcurriculum.config import ClipConfig, IntPhysVoESource, ManifestVoESource
from devcurriculum.datasets.decode import resize_short_side_and_center_crop
from devcurriculum.datasets.manifest import ManifestError
from devcurriculum.evalsets.voe import prepare_voe, read_voe_manifest
from devcurriculum.voe_onset import violation_onset
from voe_fixtures import MOVIE_NAMES, build_intphys, write_movie

CLIP = ClipConfig(frames=4, frame_step=2, stride=4, size=16)


def _manifest(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "voe.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(path: str, pair: str, possible: object, prop: str = "continuity", **extra: object) -> dict:
    return {"path": path, "pair_id": pair, "possible": possible, "property": prop, **extra}


def test_validator_names_every_bad_pair(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [
        _row("a.mp4", "ok", True), _row("b.mp4", "ok", False),
        _row("c.mp4", "lonely", True),
        _row("d.mp4", "twins", "yes"), _row("e.mp4", "twins", 1),
        _row("f.mp4", "ghosts", False), _row("g.mp4", "ghosts", "no"),
        _row("h.mp4", "mixed", True), _row("i.mp4", "mixed", False, prop="shape_constancy"),
    ])
    with pytest.raises(ManifestError) as err:
        read_voe_manifest(manifest)
    message = str(err.value)
    assert message.startswith(f"VoE manifest {manifest}: ")
    assert "pair 'lonely' (row 3): missing partner (only a possible clip)" in message
    assert "pair 'twins' (rows 4, 5): two possible clips, no impossible one" in message
    assert "pair 'ghosts' (rows 6, 7): two impossible clips, no possible one" in message
    assert "pair 'mixed' (rows 8, 9): clips of different properties ['continuity', 'shape_constancy']" in message
    assert "'ok'" not in message


def test_validator_names_bad_cells_rows_and_columns(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [
        _row("a.mp4", "p", "maybe", onset_frame=-3), _row("a.mp4", "p", False, onset_frame=2.5),
        _row("", "q", True, onset_frame=""), _row("c.mp4", "q", False),
    ])
    with pytest.raises(ManifestError) as err:
        read_voe_manifest(manifest)
    message = str(err.value)
    assert "empty path in rows 3" in message
    assert "possible must be true/false (or 1/0, yes/no) in rows 1" in message
    assert "onset_frame must be a non-negative integer in rows 1, 2" in message
    assert "duplicate path in rows 1, 2" in message
    (tmp_path / "short.csv").write_text("path,pair_id,possible\na.mp4,p,true\n")
    with pytest.raises(ManifestError, match=r"missing \['property'\]"):
        read_voe_manifest(tmp_path / "short.csv")


def test_manifest_set_reads_frame_folders_and_converts_or_infers_onsets(tmp_path: Path) -> None:
    movies = build_intphys(tmp_path / "movies", blocks=("O1",), scenes=1, n_frames=12, size=24, splice=5)
    quad = movies["O1/01"]
    scene = tmp_path / "movies" / "O1" / "01"
    manifest = _manifest(tmp_path, [
        _row(f"movies/O1/01/{MOVIE_NAMES['A']}/scene", "given", True, onset_frame=5),
        _row(f"movies/O1/01/{MOVIE_NAMES['AB']}/scene", "given", False),
        _row(str(scene / MOVIE_NAMES["B"] / "scene"), "inferred", "TRUE"),
        _row(str(scene / MOVIE_NAMES["BA"] / "scene"), "inferred", "false"),
    ])
    out = tmp_path / "out"
    n = prepare_voe(name="mine", voe_set=ManifestVoESource(manifest=str(manifest), frames=5), clip=CLIP, demo=None,
                    age_groups=None, out_table=out / "mine.parquet", out_cache=out / "mine.npy")
    table, cache = pd.read_parquet(out / "mine.parquet"), np.load(out / "mine.npy")
    assert n == 4 and cache.shape == (4, 5, 16, 16, 3)
    given = table[table["pair_id"] == "given"].set_index("possible")
    # onset 5 in source frames, every 2nd frame stored: stored frame ceil(5 / 2) = 3 (source frame 6)
    assert set(given["onset_frame"]) == {math.ceil(5 / 2)}
    expected = resize_short_side_and_center_crop(quad["A"][::2][:5], 16)
    assert np.array_equal(cache[given.at[True, "cache_row"]], expected)
    inferred = table[table["pair_id"] == "inferred"]
    # B and B->A agree on source frames 0..4 (stored 0, 1, 2), differ from source frame 6 (stored 3) on
    assert set(inferred["onset_frame"]) == {3}
    assert list(table["item_id"]) == ["given/possible", "given/impossible", "inferred/possible", "inferred/impossible"]


def test_intphys_quadruplets_are_paired_by_their_beginnings(tmp_path: Path) -> None:
    root = tmp_path / "intphys"
    movies = build_intphys(root, blocks=("O1", "O2"), scenes=2, n_frames=10, size=24, splice=4)
    voe = IntPhysVoESource(root=str(root), blocks={"O1": "object_permanence", "O2": "shape_constancy"}, frames=5)
    out = tmp_path / "out"
    prepare_voe(name="ip", voe_set=voe, clip=CLIP, demo=None, age_groups=None,
                out_table=out / "ip.parquet", out_cache=out / "ip.npy")
    table, cache = pd.read_parquet(out / "ip.parquet"), np.load(out / "ip.npy")
    assert len(table) == 16 and table["pair_id"].nunique() == 8
    assert table.groupby("property")["pair_id"].nunique().to_dict() == {"object_permanence": 4, "shape_constancy": 4}
    assert set(table["onset_frame"]) == {2}  # spliced at source frame 4 = stored frame 2
    for pair_id, pair in table.groupby("pair_id"):
        scene = pair_id.rsplit("/", 1)[0]
        possible = cache[pair.loc[pair["possible"], "cache_row"].item()]
        impossible = cache[pair.loc[~pair["possible"], "cache_row"].item()]
        # each impossible movie is matched with the possible movie whose beginning it shares
        partner = next(name for name in ("A", "B")
                       if np.array_equal(possible, resize_short_side_and_center_crop(movies[scene][name][::2][:5], 16)))
        spliced = "AB" if partner == "A" else "BA"
        assert np.array_equal(impossible, resize_short_side_and_center_crop(movies[scene][spliced][::2][:5], 16))
        assert violation_onset(possible, impossible) == 2


def test_intphys_scene_that_is_not_a_quadruplet_is_named(tmp_path: Path) -> None:
    root = tmp_path / "intphys"
    build_intphys(root, blocks=("O1",), scenes=1, n_frames=6, size=16)
    status = root / "O1" / "01" / MOVIE_NAMES["AB"] / "status.json"
    status.write_text(json.dumps({"header": {"is_possible": True}}))
    voe = IntPhysVoESource(root=str(root), frames=4)
    with pytest.raises(ManifestError, match=r"IntPhys scene .*O1/01: expected a quadruplet .* found 3 possible and 1 impossible"):
        prepare_voe(name="ip", voe_set=voe, clip=CLIP, demo=None, age_groups=None,
                    out_table=tmp_path / "t.parquet", out_cache=tmp_path / "c.npy")
    write_movie(root / "O1" / "02" / "1", np.zeros((2, 8, 8, 3), np.uint8), possible=True)
    (root / "O1" / "01" / MOVIE_NAMES["AB"] / "status.json").unlink()
    with pytest.raises(ManifestError, match="no status.json"):
        prepare_voe(name="ip", voe_set=voe, clip=CLIP, demo=None, age_groups=None,
                    out_table=tmp_path / "t.parquet", out_cache=tmp_path / "c.npy")


def test_clip_shorter_than_the_frames_asked_for_is_named(tmp_path: Path) -> None:
    root = tmp_path / "intphys"
    build_intphys(root, blocks=("O1",), scenes=1, n_frames=6, size=16)
    with pytest.raises(ValueError, match=r"voe.sets.ip: clip 1 .*: 6 frame images, needs 9"):
        prepare_voe(name="ip", voe_set=IntPhysVoESource(root=str(root), frames=5), clip=CLIP, demo=None,
                    age_groups=None, out_table=tmp_path / "t.parquet", out_cache=tmp_path / "c.npy")


def test_a_set_shorter_than_the_models_window_is_a_config_error() -> None:
    from devcurriculum.config import ConfigError, WorkflowConfig

    config = {"data": {"clip": {"frames": 8}}, "voe": {"sets": {"short": {"source": "demo", "frames": 6}}}}
    with pytest.raises(ConfigError, match=r"voe.sets.short.frames: 6 is shorter than the models' window data.clip.frames=8"):
        WorkflowConfig.from_mapping(config)
    with pytest.raises(ConfigError, match=r"voe.sets.mine: 'manifest' is a required property"):
        WorkflowConfig.from_mapping({"voe": {"sets": {"mine": {"source": "manifest"}}}})
