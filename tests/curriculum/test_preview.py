"""Curriculum preview: one row per step bucket, values from the sampler's schedule; table + PNG."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.config import CurriculumConfig
from devcurriculum.curriculum import CurriculumPlan
from devcurriculum.curriculum.preview import PREVIEW_FILE_SCHEMA, PREVIEW_SCHEMA, build_preview, preview_table
from devcurriculum.curriculum.prototype import PrototypeSchedule
from devcurriculum.utils.io import read_metadata, write_table

GROUPS = ["g0", "g1", "g2"]
POOLS = {"g0": np.arange(0, 12), "g1": np.arange(12, 30), "g2": np.arange(30, 50)}
DIFFICULTY = np.linspace(0.0, 1.0, 50)
BUCKET_STEPS = 10
WEIGHTING = {"kind": "prototypes_first", "initial_fraction": 0.2, "warmup_fraction": 0.5}


def make_plan(name: str, curriculum: dict, steps_per_stage: int) -> CurriculumPlan:
    cfg = CurriculumConfig.from_mapping(curriculum, where=f"curricula.{name}")
    return CurriculumPlan.from_config(name=name, curriculum=cfg, groups=GROUPS, steps_per_stage=steps_per_stage)


def test_unweighted_rows_per_bucket_and_stage() -> None:
    plan = make_plan("dev", {"order": GROUPS}, 30)
    table = preview_table(plan, POOLS, None, BUCKET_STEPS)
    assert list(table.columns) == PREVIEW_SCHEMA.names
    assert table["step"].tolist() == list(range(0, 90, 10))
    assert table["stage"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert table["pool"].tolist()[::3] == [["g0"], ["g1"], ["g2"]]
    assert table["temperature"].isna().all()
    assert table["effective_fraction"][0] == pytest.approx(1 - (1 - 1 / 12) ** 12)
    assert (table["blur_sigma"] == 0).all() and (table["blur_prob"] == 0).all() and (table["lr_scale_min"] == 1).all()


def test_weighted_mixed_follows_the_schedule() -> None:
    plan = make_plan("proto", {"order": "mixed", "weighting": WEIGHTING}, 30)
    table = preview_table(plan, POOLS, DIFFICULTY, BUCKET_STEPS)
    assert table["step"].tolist() == list(range(0, 90, 10))
    assert table["pool"][0] == GROUPS
    reference = PrototypeSchedule(DIFFICULTY, 0.2, 45, bucket_steps=10)
    for row in table.itertuples():
        if row.step < 45:
            assert row.temperature == reference.temperature(row.step)
            assert abs(row.effective_fraction - reference.target(row.step)) < 1e-4
        else:
            assert math.isinf(row.temperature)
    fractions = table["effective_fraction"].to_numpy()
    assert (np.diff(fractions[:6]) > 0).all()  # rises over the warm-up, then stays uniform
    assert (fractions[5:] == fractions[5]).all()


def test_steps_per_stage_not_a_multiple_of_bucket() -> None:
    plan = make_plan("dev", {"order": ["g0", "g1"]}, 15)
    table = preview_table(plan, POOLS, None, BUCKET_STEPS)
    assert table["step"].tolist() == [0, 10, 15, 25]  # buckets restart at every stage


def test_blur_and_lerac_columns() -> None:
    pytest.importorskip("devcurriculum.curriculum.blur")
    pytest.importorskip("devcurriculum.curriculum.lerac")
    cfg = {
        "order": GROUPS,
        "blur": {"variant": "linear_sigma", "sigma_max": 2.0, "until_fraction": 0.5, "levels": 5},
        "lerac": {"mode": "paper", "warmup_fraction": 0.3, "min_scale": 1e-3},
    }
    plan = make_plan("hybrid", cfg, 30)
    table = preview_table(plan, POOLS, None, BUCKET_STEPS)
    assert table["blur_sigma"][0] == pytest.approx(2.0)
    assert table["blur_prob"][0] == 1.0
    assert (table.loc[table["step"] >= 45, "blur_sigma"] == 0).all()
    assert table["lr_scale_min"][0] == pytest.approx(1e-3)
    assert (table.loc[table["step"] >= 27, "lr_scale_min"] == 1.0).all()
    assert (np.diff(table["lr_scale_min"]) >= 0).all()


def test_build_preview_writes_table_and_png(tmp_path) -> None:
    tables = []
    for g, pool in POOLS.items():
        path = tmp_path / f"{g}.parquet"
        write_table(pa.table({"clip_id": [f"c{i}" for i in pool], "age_group": [g] * len(pool)}), path)
        tables.append(path)
    diff = tmp_path / "difficulty.parquet"
    write_table(pa.table({"clip_id": [f"c{i}" for i in range(50)], "difficulty": DIFFICULTY}), diff)
    out, png = tmp_path / "out" / "proto.parquet", tmp_path / "out" / "proto.png"
    cfg = CurriculumConfig.from_mapping({"order": "mixed", "weighting": WEIGHTING})
    common = dict(name="proto", curriculum=cfg, groups=GROUPS, clip_tables=tables, steps_per_stage=30,
                  bucket_steps=BUCKET_STEPS)
    build_preview(**common, difficulty=diff, out_table=out, out_plot=png)
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(PREVIEW_FILE_SCHEMA)
    assert table.num_rows == 9 and table.column("model").null_count == 9  # the shared pretrain schedule
    assert read_metadata(out)["devcurriculum.stage"] == "build_curriculum"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="weighting block but no difficulty"):
        build_preview(**common, difficulty=None, out_table=tmp_path / "x.parquet", out_plot=tmp_path / "x.png")
    # bucket_steps "auto" (the pretrain default) gives one row per step on a run this short
    auto = build_preview(**{**common, "bucket_steps": "auto"}, difficulty=diff, out_table=out, out_plot=png)
    assert auto["step"].tolist() == list(range(90))


def test_each_learner_previews_its_own_schedule(tmp_path) -> None:
    """A learner with its own steps_per_stage (models.<name>.pretrain) gets rows of its own length."""
    tables = []
    for g, pool in POOLS.items():
        path = tmp_path / f"{g}.parquet"
        write_table(pa.table({"clip_id": [f"c{i}" for i in pool], "age_group": [g] * len(pool)}), path)
        tables.append(path)
    out, png = tmp_path / "dev.parquet", tmp_path / "dev.png"
    learners = {"videomae": {"steps_per_stage": 5, "bucket_steps": "auto"},
                "simclr": {"steps_per_stage": 110, "bucket_steps": 10}, "vjepa": {"steps_per_stage": 110, "bucket_steps": 10}}
    table = build_preview(name="dev", curriculum=CurriculumConfig.from_mapping({"order": GROUPS}), groups=GROUPS,
                          clip_tables=tables, difficulty=None, steps_per_stage=110, bucket_steps=10, out_table=out,
                          out_plot=png, learners=learners)
    assert list(table["model"].unique()) == ["videomae", "simclr", "vjepa"]
    mae = table[table["model"] == "videomae"]
    assert mae["step"].tolist() == list(range(15)) and mae["stage"].tolist() == [s // 5 for s in range(15)]
    assert len(table[table["model"] == "simclr"]) == 33 == len(table[table["model"] == "vjepa"])
    assert pq.read_table(out).schema.remove_metadata().equals(PREVIEW_FILE_SCHEMA)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
