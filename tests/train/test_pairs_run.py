"""Pretraining on frame pairs across a video (models.<name>.gap_seconds): batches, stage gaps, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_resume import CLIP, GROUPS, MODELS

from devcurriculum.config import ClipConfig, CurriculumConfig, model_config
from devcurriculum.curriculum.plan import CurriculumPlan
from devcurriculum.curriculum.sampler import CurriculumSampler
from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.datasets.pairs import PAIR_SCHEMA
from devcurriculum.models import registry
from devcurriculum.train.checkpoint import save_weights
from devcurriculum.train.run import main, pair_stage_rows
from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.serialize import save_npy

GAPS = (3.0, 0.5)
VJEPA = {**MODELS["vjepa"], "mode": "pairs", "gap_seconds": 10}
SIMCLR = {**MODELS["simclr"], "gap_seconds": [3.0, 0.5]}
PRETRAIN = {"steps_per_stage": 2, "batch_size": 4, "optimizer": "sgd", "lr": 1e-2, "warmup_steps": 0,
            "precision": "fp32", "bucket_steps": 1, "deterministic": True}


def pair_cache(tmp: Path, gaps: tuple[float, ...]) -> Path:
    """Two groups of pair rows (each gap, two videos at different fps), as chunk_pairs writes them."""
    folder = tmp / "pairs"
    rng = np.random.default_rng(0)
    for g, group in enumerate(GROUPS):
        rows = [(f"v{g}{k}", fps, gap, a) for k, fps in enumerate((10.0, 25.0)) for gap in gaps for a in range(3)]
        save_npy(folder / f"{group}.npy", rng.integers(0, 256, (len(rows), 2, 16, 16, 3), dtype=np.uint8))
        cols = {"clip_id": [f"{v}:{a}:{gap:g}s" for v, _, gap, a in rows], "video_id": [r[0] for r in rows],
                "subject": [f"s{g}"] * len(rows), "age_days": [30.0 + 150 * g] * len(rows),
                "age_group": [group] * len(rows), "start_frame": [r[3] for r in rows],
                "frame_step": [round(gap * fps) for _, fps, gap, _ in rows], "n_frames": [2] * len(rows),
                "cache_row": list(range(len(rows))), "gap_seconds": [r[2] for r in rows]}
        write_table(table_from_columns(cols, PAIR_SCHEMA), folder / f"{group}.parquet")
    return folder


def args(tmp: Path, model: dict, name: str) -> list[str]:
    folder = pair_cache(tmp, tuple(float(g) for g in np.atleast_1d(model["gap_seconds"])))
    torch.manual_seed(0)
    objective = registry.build_objective(model_config(model), ClipConfig.from_mapping(CLIP))
    save_weights(objective.state_dict(), tmp / "init.safetensors")
    spec = {"model_name": "m", "model": model, "curriculum_name": "dev", "curriculum": {"order": GROUPS},
            "pretrain": PRETRAIN, "seed": 0, "groups": GROUPS, "clip": CLIP}
    return ["--spec-json", json.dumps(spec), "--clip-tables", *[str(folder / f"{g}.parquet") for g in GROUPS],
            "--clip-caches", *[str(folder / f"{g}.npy") for g in GROUPS], "--init", str(tmp / "init.safetensors"),
            "--threads", "1", "--no-progress", "--out-dir", str(tmp / name), "--resume-dir", str(tmp / name / "resume")]


def test_each_stage_draws_pairs_of_its_own_gap(tmp_path: Path) -> None:
    cache = ClipCache(pair_cache(tmp_path, GAPS), GROUPS)
    plan = CurriculumPlan.from_config(name="dev", curriculum=CurriculumConfig.from_mapping({"order": GROUPS}),
                                      groups=GROUPS, steps_per_stage=50, run_seed=0)
    model = model_config({"objective": "simclr", "gap_seconds": [3, 0.5, 0.1]})
    sampler = CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, 8, 0,
                                stage_rows=pair_stage_rows(model, cache.table, "m"))
    table = cache.table
    for step in range(plan.total_steps):  # 100 draws of 8
        rows = table.iloc[sampler.global_batch(step)]
        stage = step // 50
        assert set(rows["gap_seconds"]) == {GAPS[stage]}
        assert set(rows["age_group"]) == {GROUPS[stage]}
    # a gap the cache does not hold is named
    with pytest.raises(ValueError, match=r"gap_seconds: the pair cache holds no pairs 0\.1 s apart"):
        CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, 8, 0,
                          stage_rows=pair_stage_rows(model_config({"objective": "simclr", "gap_seconds": 0.1}),
                                                     table, "m"))
    with pytest.raises(ValueError, match="models.m.gap_seconds is set but the tables given are clip indexes"):
        pair_stage_rows(model, table.drop(columns="gap_seconds"), "m")


def test_gaps_beyond_the_runs_last_block_are_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = model_config({"objective": "simclr", "gap_seconds": [3, 0.5, 0.1]})
    table = pd.DataFrame({"gap_seconds": [3.0, 0.5]})
    with caplog.at_level("WARNING", logger="devcurriculum.train.run"):
        pair_stage_rows(model, table, "m", blocks=3)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="devcurriculum.train.run"):
        pair_stage_rows(model, table, "m", blocks=2)
    assert [r.getMessage() for r in caplog.records] == [
        "models.m.gap_seconds lists 3 gaps but this run has 2 block(s) of pretrain.steps_per_stage steps: "
        "gap(s) 0.1 s are never trained on"
    ]


def test_a_mixed_run_draws_each_block_of_steps_per_stage_from_its_gap(tmp_path: Path) -> None:
    cache = ClipCache(pair_cache(tmp_path, GAPS), GROUPS)
    plan = CurriculumPlan.from_config(name="mixed", curriculum=CurriculumConfig.from_mapping({"order": "mixed"}),
                                      groups=GROUPS, steps_per_stage=50, run_seed=0)
    assert len(plan.stages) == 1 and plan.total_steps == 100
    model = model_config({"objective": "simclr", "gap_seconds": list(GAPS)})
    sampler = CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, 8, 0,
                                stage_rows=pair_stage_rows(model, cache.table, "m"), block_steps=50)
    seen = [set(), set()]
    for step in range(plan.total_steps):
        rows = cache.table.iloc[sampler.global_batch(step)]
        assert set(rows["gap_seconds"]) == {GAPS[step // 50]}  # block k: gap k, as lr_stage_factors
        seen[step // 50] |= set(rows["age_group"])
        assert sampler.info(step).stage == 0
    assert seen == [set(GROUPS), set(GROUPS)]  # every block pools every group
    # without block_steps the one stage is one block: the first gap throughout
    whole = CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, 8, 0,
                              stage_rows=pair_stage_rows(model, cache.table, "m"))
    assert set(cache.table.iloc[whole.global_batch(99)]["gap_seconds"]) == {GAPS[0]}


def test_pretrain_passes_steps_per_stage_as_the_gap_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devcurriculum.curriculum import sampler as sampler_module

    drawn: list[float] = []

    class Spy(CurriculumSampler):
        def global_batch(self, step: int) -> np.ndarray:
            batch = super().global_batch(step)
            drawn.append(float(self.table_gaps[batch].max()))
            return batch

    argv = args(tmp_path, SIMCLR, "a")
    spec = json.loads(argv[1])
    spec["curriculum_name"], spec["curriculum"] = "mixed", {"order": "mixed"}
    argv[1] = json.dumps(spec)
    gaps = ClipCache(tmp_path / "pairs", GROUPS).table["gap_seconds"].to_numpy()
    monkeypatch.setattr(Spy, "table_gaps", gaps, raising=False)
    monkeypatch.setattr(sampler_module, "CurriculumSampler", Spy)
    assert main(argv) == 0
    assert drawn == [3.0, 3.0, 0.5, 0.5]  # one stage of 2 groups x 2 steps_per_stage: blocks of 2 steps


@pytest.mark.parametrize("model", [VJEPA, SIMCLR], ids=["vjepa", "simclr"])
def test_pretrain_on_pairs_is_bit_identical(tmp_path: Path, model: dict) -> None:
    assert main(args(tmp_path, model, "a")) == 0
    assert main(args(tmp_path, model, "b")) == 0
    metrics = pd.read_parquet(tmp_path / "a/metrics.parquet")
    assert list(metrics["step"]) == [0, 1, 2, 3] and list(metrics["stage"]) == [0, 0, 1, 1]
    assert np.isfinite(metrics["loss"]).all() and (metrics["loss"] > 0).all()
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a/model.safetensors"), load_file(tmp_path / "b/model.safetensors")
    init = load_file(tmp_path / "init.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], init[k]) for k in init if k in a)  # it trained
    assert metrics["loss"].tolist() == pd.read_parquet(tmp_path / "b/metrics.parquet")["loss"].tolist()


def test_objectives_take_frames_0_and_1_of_a_pair() -> None:
    clip = ClipConfig.from_mapping(CLIP)
    torch.manual_seed(0)
    vjepa = registry.build_objective(model_config(VJEPA), clip)
    pair = torch.randn(3, 2, 3, 16, 16)
    video = vjepa.pretext_input(pair, later=1)
    assert torch.equal(video[:, 0], pair[:, 0]) and torch.equal(video[:, -1], pair[:, 1])
    with pytest.raises(ValueError, match=r"expects batches \(B, 2, 3, 16, 16\)"):
        vjepa.loss(torch.randn(3, 4, 3, 16, 16), 0)  # a clip batch is refused in pairs-across-video mode
    simclr = registry.build_objective(model_config(SIMCLR), clip)
    simclr.augment = model_config({"objective": "simclr", "augment": {"crop_scale": [1.0, 1.0], "flip": False,
                                                                       "jitter": 0.0}}).augment
    v1, v2 = simclr.views(pair)
    assert torch.allclose(v1, pair[:, 0], atol=1e-5) and torch.allclose(v2, pair[:, 1], atol=1e-5)
