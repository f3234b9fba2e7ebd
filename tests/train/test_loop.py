"""The one training loop on tiny in-memory parts; these parts are shared with the resume and DDP tests."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from devcurriculum.config import BlurConfig, ConfigError, LeracConfig, PretrainConfig
from devcurriculum.curriculum.sampler import SamplerStepInfo
from devcurriculum.models.objective import Objective, StepContext
from devcurriculum.train.batch import make_batch, step_seed
from devcurriculum.train.checkpoint import load_resume_state, resume_path
from devcurriculum.train.loop import NonFiniteLossError, TrainPlan, run_config_hash, train
from devcurriculum.train.metrics import COLUMNS, MetricsLog
from devcurriculum.train.optim import build_optimizer
from devcurriculum.train.schedule import group_rates

# ---- tiny parts (imported by test_resume.py and test_ddp.py) --------------------------------------


class TinyObjective(Objective):
    """A two-layer 3-D conv denoising autoencoder: per-sample mean loss, two depth groups.

    ``noise > 0`` corrupts inputs with a private generator (like an objective's mask generator) so the
    resume tests cover objective RNG state. ``nan_at`` makes the loss NaN from that step on.
    """

    name = "tiny"

    def __init__(self, hidden: int = 4, noise: float = 0.0, seed: int = 0, nan_at: int | None = None,
                 sleep_s: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, hidden, 3, padding=1)
        self.conv2 = nn.Conv3d(hidden, 3, 3, padding=1)
        self.noise = noise
        self.nan_at = nan_at
        self.sleep_s = sleep_s
        self.mask_gen = torch.Generator().manual_seed(seed + 17)
        self.contexts: list[StepContext] = []
        self.after: list[int] = []

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        if self.sleep_s:
            import time

            time.sleep(self.sleep_s)
        x = batch.permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)
        inp = x
        if self.noise:
            inp = x + self.noise * torch.randn(x.shape, generator=self.mask_gen)
        out = self.conv2(F.relu(self.conv1(inp)))
        loss = F.mse_loss(out, x)
        if self.nan_at is not None and step >= self.nan_at:
            loss = loss * float("nan")
        return loss

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return F.relu(self.conv1(batch.permute(0, 2, 1, 3, 4))).mean(dim=(2, 3, 4))

    def export_encoder(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(out_dir / "tiny.safetensors"))

    def depth_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.conv1.parameters()), list(self.conv2.parameters())]

    def set_step_context(self, context: StepContext) -> None:
        self.contexts.append(context)

    def after_step(self, step: int, total_steps: int) -> None:
        self.after.append(step)


class TinyClipCache:
    """In-memory uint8 clips ``(N, T, H, W, 3)`` with the ClipCache ``get`` contract."""

    def __init__(self, n: int = 32, frames: int = 2, size: int = 8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.clips = rng.integers(0, 256, size=(n, frames, size, size, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.clips)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        return self.clips[np.asarray(indices, dtype=np.int64)]


class TinySampler:
    """Draws the GLOBAL batch (``batch_size``) from a per-step seed and yields this rank's slice."""

    def __init__(self, n: int, batch_size: int, seed: int, total_steps: int, rank: int = 0, world_size: int = 1,
                 steps_per_stage: int = 4) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.total_steps, self.rank, self.world_size = total_steps, rank, world_size
        self.steps_per_stage = steps_per_stage
        self.step = 0

    def __iter__(self) -> Iterator[list[int]]:
        while self.step < self.total_steps:
            rng = np.random.default_rng([self.seed, self.step])
            idx = rng.integers(0, self.n, size=self.batch_size)
            self.step += 1
            share = self.batch_size // self.world_size
            yield idx[self.rank * share : (self.rank + 1) * share].tolist()

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])

    def info(self, step: int) -> SamplerStepInfo:
        stage = step // self.steps_per_stage
        return SamplerStepInfo(stage=stage, pool=(f"g{stage}",), temperature=math.nan, effective_fraction=1.0)


def tiny_schedule(base: float, total: int) -> Any:
    """Linear decay to 10 % (the loop's own main schedule is tested with the schedule module)."""
    return lambda step: base * (1.0 - 0.9 * step / total)


PRETRAIN = PretrainConfig(batch_size=4, optimizer="adamw", lr=1e-2, weight_decay=0.0, warmup_steps=0, min_lr=1e-4,
                          grad_clip=1.0, precision="fp32", checkpoint_every=4, threads=1)


def run_tiny(tmp: Path, *, total: int = 8, seed: int = 0, noise: float = 0.3, nan_at: int | None = None,
             pretrain: Mapping[str, Any] | None = None, rank: int = 0, world_size: int = 1,
             dist_info: Any = None, sleep_s: float = 0.0, batch_size: int | None = None,
             out: str = "out", resume: str = "resume", lerac: Any = None,
             keep_resume_state: bool = False, blur: Any = None,
             real_schedule: bool = False) -> tuple[Any, TinyObjective]:
    """Build fresh tiny parts from ``seed`` and train ``total`` steps in ``tmp``.

    ``pretrain`` overrides keys of :data:`PRETRAIN`; ``batch_size`` is the global batch.
    """
    pre = dataclasses.replace(PRETRAIN, **(pretrain or {}))
    if batch_size is not None:
        pre = dataclasses.replace(pre, batch_size=batch_size)
    torch.manual_seed(seed)
    objective = TinyObjective(noise=noise, seed=seed, nan_at=nan_at, sleep_s=sleep_s)
    cache = TinyClipCache(seed=seed)
    sampler = TinySampler(len(cache), pre.batch_size, seed, total, rank=rank, world_size=world_size)
    spec = {"model_name": "tiny", "pretrain": pre.shaping(), "seed": seed, "noise": noise}
    result = train(
        objective=objective, sampler=sampler, clip_cache=cache, pretrain=pre, total_steps=total, seed=seed,
        out_dir=tmp / out, resume_dir=tmp / resume, spec=spec,
        lr_schedule=None if real_schedule else tiny_schedule(pre.lr, total), dist_info=dist_info,
        lerac=lerac, blur=blur, show_progress=False, keep_resume_state=keep_resume_state,
    )
    return result, objective


def read_losses(path: Path) -> list[float]:
    return pq.read_table(path).column("loss").to_pylist()


# ---- tests ---------------------------------------------------------------------------------------


def test_two_runs_with_the_same_seed_log_identical_losses(tmp_path: Path) -> None:
    run_tiny(tmp_path, out="a", resume="ra")
    run_tiny(tmp_path, out="b", resume="rb")
    a, b = read_losses(tmp_path / "a" / "metrics.parquet"), read_losses(tmp_path / "b" / "metrics.parquet")
    assert len(a) == 8 and a == b
    assert all(math.isfinite(v) for v in a)
    c, _ = run_tiny(tmp_path, seed=1, out="c", resume="rc")
    assert c.losses != a


def test_loss_decreases_and_artifacts_are_written(tmp_path: Path) -> None:
    result, objective = run_tiny(tmp_path, total=24, noise=0.0, pretrain={"checkpoint_every": 10, "steps_per_stage": 4},
                                 keep_resume_state=True)
    losses = read_losses(tmp_path / "out" / "metrics.parquet")
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])
    assert result.start_step == 0 and result.global_batch == 4 and result.world_size == 1
    table = pq.read_table(tmp_path / "out" / "metrics.parquet")
    # the run's identity first (runs concatenate), then the per-step columns
    assert tuple(table.schema.names) == ("model", "curriculum", "seed", *COLUMNS)
    assert set(table.column("model").to_pylist()) == {"tiny"} and set(table.column("seed").to_pylist()) == {0}
    assert table.column("curriculum").null_count == 24  # the tiny spec names no curriculum
    assert table.column("step").to_pylist() == list(range(24))
    assert table.column("stage").to_pylist() == [s // 4 for s in range(24)]
    assert table.column("pool").to_pylist()[5] == "g1"
    assert table.column("global_batch").to_pylist() == [4] * 24
    assert table.column("blur_sigma").to_pylist() == [0.0] * 24
    assert math.isnan(table.column("temperature").to_pylist()[0])
    lr = table.column("lr").to_pylist()
    assert lr[0] == pytest.approx(1e-2) and lr[12] == pytest.approx(1e-2 * (1 - 0.9 * 12 / 24))
    meta = pq.read_schema(tmp_path / "out" / "metrics.parquet").metadata
    assert meta[b"devcurriculum.stage"] == b"pretrain"
    cfg = json.loads((tmp_path / "out" / "run_spec.json").read_text())
    assert cfg["global_batch"] == 4 and cfg["world_size"] == 1 and cfg["total_steps"] == 24
    assert cfg["spec"]["model_name"] == "tiny" and cfg["version"]
    # hooks: a context per step with the sampler's stage, after_step per step
    assert [c.stage for c in objective.contexts] == [s // 4 for s in range(24)]
    assert objective.contexts[5] == StepContext(step=5, total_steps=24, stage=1, stage_step=1, stage_steps=4,
                                                pool=("g1",), effective_fraction=1.0,
                                                temperature=objective.contexts[5].temperature, blur_sigma=0.0)
    # the stage block: the step within its steps_per_stage block, the block's length
    assert [(c.stage_step, c.stage_steps) for c in objective.contexts] == [(s % 4, 4) for s in range(24)]
    assert math.isnan(objective.contexts[5].temperature)
    assert objective.after == list(range(24))
    # checkpoints at 10, 20 and the end
    state = load_resume_state(tmp_path / "resume", result.config_hash)
    assert state is not None and state.step == 24


def test_resume_state_is_removed_after_success(tmp_path: Path) -> None:
    run_tiny(tmp_path, total=5)
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert not resume_path(tmp_path / "resume").exists()


def test_final_weights_equal_the_trained_objective(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    _, objective = run_tiny(tmp_path, total=3)
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert set(saved) == set(objective.state_dict())
    for k, v in objective.state_dict().items():
        assert torch.equal(saved[k], v)


def test_nan_loss_stops_with_step_and_keeps_last_good_state(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss nan at step 6 .*last good resume state \(step 4\)"):
        run_tiny(tmp_path, total=12, nan_at=6)
    state = torch.load(resume_path(tmp_path / "resume"), weights_only=True)
    assert state["step"] == 4
    assert state["metrics"]["step"].tolist() == [0, 1, 2, 3]
    assert bool(torch.isfinite(state["metrics"]["loss"]).all())
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_nan_before_any_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match="no resume state had been saved yet"):
        run_tiny(tmp_path, total=12, nan_at=1)


def test_sgd_nesterov_from_config() -> None:
    obj = TinyObjective()
    opt = build_optimizer(obj, PretrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=0.0))
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    assert len(opt.param_groups) == 2


def test_optimizer_checks_the_depth_group_contract() -> None:
    class Missing(TinyObjective):
        def depth_groups(self) -> list[list[nn.Parameter]]:
            return [list(self.conv1.parameters())]

    class Twice(TinyObjective):
        def depth_groups(self) -> list[list[nn.Parameter]]:
            return [list(self.conv1.parameters()), list(self.parameters())]

    with pytest.raises(ValueError, match=r"leaves out trainable parameters \['conv2.weight'"):
        build_optimizer(Missing(), PretrainConfig())
    with pytest.raises(ValueError, match="is in groups 0 and 1"):
        build_optimizer(Twice(), PretrainConfig())


class FakeLerac:
    warmup_steps = 2

    def scales(self, step: int) -> list[float]:
        return [1.0, 0.01] if step < 2 else [1.0, 1.0]


def test_group_rates_are_main_schedule_times_lerac_scale(tmp_path: Path) -> None:
    base, rates = group_rates(0, lambda s: 0.5, FakeLerac(), 2)
    assert base == 0.5 and rates == [0.5, 0.005]
    with pytest.raises(ValueError, match="2 scales but the objective has 3 depth groups"):
        group_rates(0, lambda s: 0.5, FakeLerac(), 3)
    run_tiny(tmp_path, total=4, lerac=FakeLerac())
    table = pq.read_table(tmp_path / "out" / "metrics.parquet").to_pydict()
    assert table["lr_min"][:2] == pytest.approx([t * 0.01 for t in table["lr"][:2]])
    assert table["lr_max"] == pytest.approx(table["lr"])
    assert table["lr_min"][2:] == pytest.approx(table["lr"][2:])


def test_pretrain_validation_names_the_key() -> None:
    with pytest.raises(ConfigError, match="pretrain.optimizer"):
        PretrainConfig(optimizer="adam")
    with pytest.raises(ConfigError, match="pretrain.checkpoint_every"):
        PretrainConfig.from_mapping({"checkpoint_every": 0})
    cfg = PretrainConfig.from_mapping({"lr": 0.5, "nproc": 2, "threads": 1})
    plan = TrainPlan.derive(cfg, total_steps=3, seed=7, world_size=2)
    assert cfg.lr == 0.5 and plan.seed == 7 and plan.total_steps == 3
    assert plan.global_batch == 8 and plan.rank_batch == 4  # pretrain.batch_size is the global batch
    with pytest.raises(ValueError, match=r"pretrain.batch_size: the global batch 8 must be divisible by the 3 processes"):
        TrainPlan.derive(cfg, total_steps=3, seed=7, world_size=3)
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        TrainPlan.derive(cfg, total_steps=0, seed=7, world_size=1)


def test_runtime_keys_do_not_change_the_hash_run_shaping_keys_do() -> None:
    spec = {"model_name": "tiny", "seed": 0}
    base = PretrainConfig(lr=1e-3, threads=2, checkpoint_every=10, log_every=10, nproc=1)
    plan = TrainPlan.derive(base, total_steps=8, seed=0, world_size=1)

    def hash_of(pretrain: PretrainConfig, plan: TrainPlan = plan, spec: dict = spec) -> str:
        return run_config_hash(spec, pretrain=pretrain, plan=plan, inputs={"clips.npy": [1, 2]})

    runtime = dataclasses.replace(base, threads=1, checkpoint_every=5, log_every=1, nproc=2)
    assert hash_of(runtime) == hash_of(base)
    assert hash_of(dataclasses.replace(base, lr=2e-3)) != hash_of(base)
    assert hash_of(base, plan=TrainPlan.derive(base, total_steps=8, seed=0, world_size=2)) != hash_of(base)
    assert hash_of(base, plan=TrainPlan.derive(base, total_steps=8, seed=1, world_size=1)) != hash_of(base)
    assert hash_of(base, spec={**spec, "seed": 1}) != hash_of(base)
    assert run_config_hash(spec, pretrain=base, plan=plan, inputs={"clips.npy": [1, 3]}) != hash_of(base)


def test_metrics_log_round_trip_and_truncation() -> None:
    log = MetricsLog()
    row = {c: 0.0 for c in COLUMNS} | {"pool": "g0", "stage": 0, "global_batch": 8, "lr_groups": [0.0, 1.0]}
    for s in range(5):
        log.append(row | {"step": s, "loss": s / 10})
    with pytest.raises(ValueError, match="step 2 does not follow step 4"):
        log.append(row | {"step": 2})
    with pytest.raises(KeyError, match="missing columns"):
        log.append({"step": 9})
    back = MetricsLog.from_state(log.state_dict(), up_to_step=3)
    assert back.column("step") == [0, 1, 2] and back.column("loss") == [0.0, 0.1, 0.2]
    assert log.to_table().num_rows == 5


def test_blur_hook_blurs_before_normalisation_and_splits_the_global_draw() -> None:
    from devcurriculum.curriculum.blur import BlurSchedule, apply_blur
    from devcurriculum.datasets.clip_dataset import to_model_batch
    from devcurriculum.train.batch import BLUR_STREAM

    blur = BlurSchedule.from_config(BlurConfig(variant="random_sigma", until_fraction=0.5), total_steps=8)
    cache = TinyClipCache()
    idx = list(range(6))
    full = make_batch(cache, idx, 0, blur=blur, seed=3, rank=0, world_size=1)
    halves = [make_batch(cache, idx[r * 3 : (r + 1) * 3], 0, blur=blur, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), full)
    plain = to_model_batch(cache.get(idx))
    sigmas = blur.sample(0, 6, torch.Generator().manual_seed(step_seed(3, 0, BLUR_STREAM)))
    assert bool((sigmas >= 0.1).all())
    expected = (apply_blur(plain * 0.25 + 0.5, sigmas) - 0.5) / 0.25
    torch.testing.assert_close(full, expected, rtol=0, atol=1e-5)
    assert (full - plain).abs().max() > 0.1
    assert torch.equal(make_batch(cache, idx, 4, blur=blur, seed=3, rank=0, world_size=1), plain)  # blur over


def test_blur_and_lerac_are_logged_per_step(tmp_path: Path) -> None:
    from devcurriculum.curriculum.blur import BlurSchedule
    from devcurriculum.curriculum.lerac import LeracSchedule
    from devcurriculum.train.schedule import main_schedule_lr

    total = 8
    blur = BlurSchedule.from_config(BlurConfig(variant="linear_sigma", sigma_max=2.0, levels=2, until_fraction=0.5),
                                    total_steps=total)
    lerac = LeracSchedule.from_config(LeracConfig(mode="paper", warmup_fraction=0.5, min_scale=1e-2), 2, total,
                                      base_lr=1.0)
    run_tiny(tmp_path, total=total, blur=blur, lerac=lerac, real_schedule=True,
             pretrain={"warmup_steps": 3, "lr": 1e-2, "min_lr": 1e-4})
    t = pq.read_table(tmp_path / "out" / "metrics.parquet").to_pydict()
    assert t["blur_sigma"] == [2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert t["blur_prob"] == [1.0] * 4 + [0.0] * 4
    # LeRaC K = 4 steps: main schedule holds the base rate (no linear warm-up), deep group starts at 1 %
    assert t["lr"][:4] == [1e-2] * 4
    assert t["lr"] == pytest.approx([main_schedule_lr(s, 1e-2, total, 3, 1e-4, hold_steps=4) for s in range(total)])
    assert t["lr_min"][0] == pytest.approx(1e-4) and t["lr_min"][2] == pytest.approx(1e-3)
    assert t["lr_min"][4:] == pytest.approx(t["lr"][4:]) and t["lr_max"] == pytest.approx(t["lr"])


def _weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})  # noqa: SIM118


def test_weights_are_kept_after_every_stage(tmp_path: Path) -> None:
    stages = {"steps_per_stage": 3, "lr_schedule": "constant"}
    run_tiny(tmp_path, total=9, pretrain=stages, real_schedule=True)
    folder = tmp_path / "out" / "checkpoints"
    # each stage's weights with its sha256 sidecar (the last one: a link to model.safetensors, same checksum)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"after_stage{k}.safetensors{ext}" for k in (1, 2, 3) for ext in ("", ".sha256")]
    final, final_meta = _weights(tmp_path / "out" / "model.safetensors")
    assert final_meta == {"after_stage": "3", "step": "9"}
    last, last_meta = _weights(folder / "after_stage3.safetensors")
    assert last_meta == final_meta and all(torch.equal(last[k], final[k]) for k in final)
    # after stage 1 = the weights of the same run stopped after 3 steps (constant rate: nothing depends on the end)
    run_tiny(tmp_path, total=3, pretrain=stages, real_schedule=True, out="short", resume="rshort")
    first, first_meta = _weights(folder / "after_stage1.safetensors")
    short, _ = _weights(tmp_path / "short" / "model.safetensors")
    assert first_meta == {"after_stage": "1", "step": "3"}
    assert all(torch.equal(first[k], short[k]) for k in short)
    assert not any((tmp_path / "resume").glob("stages/*")), "pending stage weights are moved, not copied"


def test_stage_weights_of_an_abandoned_run_are_not_published(tmp_path: Path) -> None:
    pending = tmp_path / "resume" / "stages"
    pending.mkdir(parents=True)
    (pending / "after_stage7.safetensors").write_bytes(b"stale")
    run_tiny(tmp_path, total=6, pretrain={"steps_per_stage": 3})
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").glob("*.safetensors")) == [
        "after_stage1.safetensors", "after_stage2.safetensors"]


def test_reset_optimizer_each_stage_clears_the_moments(tmp_path: Path) -> None:
    keep, _ = run_tiny(tmp_path, total=6, pretrain={"steps_per_stage": 3}, out="keep", resume="rk")
    reset, _ = run_tiny(tmp_path, total=6, pretrain={"steps_per_stage": 3, "reset_optimizer_each_stage": True},
                        out="reset", resume="rr")
    assert keep.losses[:4] == reset.losses[:4]  # identical up to the first step of stage 2
    assert keep.losses[4:] != reset.losses[4:]


def test_the_log_numbers_stages_as_after_stage_does(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="devcurriculum.train.loop"):
        run_tiny(tmp_path, total=9, pretrain={"steps_per_stage": 3, "log_every": 1})
    lines = [r.getMessage() for r in caplog.records]
    rate = r", \S+ samples/s, ETA (\?|\d+ s|\d+m\d\ds|\d+h\d\dm)"  # the rate since training started and the time left at it
    assert any(re.fullmatch(rf"step 3/9 loss \S+ lr \S+ stage 1/3{rate}", m) for m in lines)
    assert any(re.fullmatch(rf"step 4/9 loss \S+ lr \S+ stage 2/3{rate}", m) for m in lines)
    assert "stage 2/3 done at step 6: its weights are after_stage 2" in lines
    assert "stage 3/3 done at step 9: its weights are after_stage 3" in lines
