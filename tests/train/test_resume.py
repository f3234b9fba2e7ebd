"""Resume contract: a SIGKILLed run, rerun, ends bit-identical to an uninterrupted run; a changed
config does not resume.

The killed run is a real separate process of the pretrain CLI (``devcurriculum.train.run``) on a tiny
VideoMAE with blur and LeRaC, so the kill lands between checkpoints as a cluster pre-emption would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_loop import run_tiny

from devcurriculum.train.checkpoint import resume_path

HERE = Path(__file__).resolve()
GROUPS = ["g0", "g1"]
MODEL = {"objective": "videomae", "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 32, "patch_size": 8, "tubelet_size": 2, "decoder_hidden_size": 16,
         "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 32,
         "mask_ratio": 0.5, "norm_pix_loss": True}
# the other two learners, as tiny: every objective must pass the kill-and-resume contract
MODELS = {
    "videomae": MODEL,
    "vjepa": {"objective": "vjepa", "hidden_size": 24, "num_hidden_layers": 1, "num_attention_heads": 2,
              "mlp_ratio": 2.0, "patch_size": 4, "tubelet_size": 2, "pred_hidden_size": 16,
              "pred_num_hidden_layers": 1, "pred_num_attention_heads": 2,
              "masks": {"context_scale": [0.85, 1.0], "target_scale": [0.15, 0.25], "n_targets": 2, "min_keep": 4}},
    "simclr": {"objective": "simclr", "proj_hidden": 32, "proj_dim": 16, "temperature": 0.2, "gap": 2},
}
CLIP = {"frames": 4, "frame_step": 1, "stride": 4, "size": 16}
# the run-shaping keys (what the rule puts into the spec); threads and checkpoint cadence are CLI flags
PRETRAIN_CLI = {"steps_per_stage": 6, "batch_size": 4, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05,
                "warmup_steps": 2, "min_lr": 1e-5, "grad_clip": 1.0, "precision": "fp32", "bucket_steps": 2,
                "deterministic": True}
CURRICULUM = {"order": ["g0", "g1"], "blur": {"variant": "linear_sigma", "until_fraction": 0.5, "sigma_max": 1.0},
              "lerac": {"mode": "paper", "warmup_fraction": 0.25}}


def make_run_inputs(
    tmp: Path, pretrain: dict | None = None, curriculum: dict | None = None, model: dict | None = None
) -> list[str]:
    """A tiny clip folder (2 groups x 8 clips), init weights, and the CLI arguments of a run."""
    import numpy as np

    from devcurriculum.config import ClipConfig, model_config
    from devcurriculum.datasets.clips import CLIP_SCHEMA
    from devcurriculum.models import registry
    from devcurriculum.train.checkpoint import save_weights
    from devcurriculum.utils.io import table_from_columns, write_table
    from devcurriculum.utils.serialize import save_npy

    clips = tmp / "clips"
    if not clips.exists():
        rng = np.random.default_rng(0)
        for g, group in enumerate(GROUPS):
            n = 8
            save_npy(clips / f"{group}.npy", rng.integers(0, 256, (n, 4, 16, 16, 3), dtype=np.uint8))
            cols = {"clip_id": [f"{group}-{i}" for i in range(n)], "video_id": [f"v{g}"] * n,
                    "subject": [f"s{g}"] * n, "age_days": [30.0 + 150 * g] * n, "age_group": [group] * n,
                    "start_frame": [4 * i for i in range(n)], "frame_step": [1] * n, "n_frames": [4] * n,
                    "cache_row": list(range(n))}
            write_table(table_from_columns(cols, CLIP_SCHEMA), clips / f"{group}.parquet")
        # what the init_model rule writes for seed 0 (train.init.save_initial_model)
        torch.manual_seed(0)
        objective = registry.build_objective(model_config(model or MODEL), ClipConfig.from_mapping(CLIP))
        save_weights(objective.state_dict(), tmp / "init" / "model.safetensors")
    spec = {"model_name": "mae", "model": model or MODEL, "curriculum_name": "dev", "curriculum": curriculum or CURRICULUM,
            "pretrain": dict(PRETRAIN_CLI, **(pretrain or {})), "seed": 0, "groups": GROUPS, "clip": CLIP}
    return ["--spec-json", json.dumps(spec), "--clip-tables", *[str(clips / f"{g}.parquet") for g in GROUPS],
            "--clip-caches", *[str(clips / f"{g}.npy") for g in GROUPS], "--init", str(tmp / "init" / "model.safetensors"),
            "--threads", "1", "--checkpoint-every", "3", "--no-progress"]


def cli(tmp: Path, name: str, extra: list[str] | None = None, model: dict | None = None) -> list[str]:
    return [*make_run_inputs(tmp, model=model), "--out-dir", str(tmp / name), "--resume-dir", str(tmp / name / "resume"),
            "--log-file", str(tmp / f"{name}.log"), *(extra or [])]


def spawn_cli(args: list[str], slow: bool = False, step_delay_s: float = 0.3) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # python -m devcurriculum.train.run
    code = "import sys\n"
    if slow:  # the same CLI with every step slowed down, so the kill lands between checkpoints
        code += ("import time, devcurriculum.train.loop as L; f = L.device_batch\n"
                 f"def slow(*a, **k):\n    time.sleep({step_delay_s}); return f(*a, **k)\n"
                 "L.device_batch = slow\n")
    code += "from devcurriculum.train.run import main; main(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)



def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


@pytest.mark.parametrize("objective", list(MODELS))
def test_sigkill_then_rerun_gives_bit_identical_weights(tmp_path: Path, restore_globals: None, objective: str) -> None:
    """``python -m devcurriculum.train.run`` killed after a checkpoint, rerun: same weights, same curve.

    The killed run reads ahead with 2 loader processes (which die with it), the rerun with 1 loader
    thread, the reference with none: the worker count never changes a batch.
    """
    model = MODELS[objective]
    make_run_inputs(tmp_path, model=model)
    killed = spawn_cli(cli(tmp_path, "kill", ["--loader-workers", "2", "--loader-kind", "process"], model=model),
                       slow=True)
    from devcurriculum.train.run import main

    assert main(cli(tmp_path, "ref", model=model)) == 0  # the uninterrupted reference, in this process meanwhile
    state_file = resume_path(tmp_path / "kill" / "resume")
    deadline = time.monotonic() + 180
    while not state_file.exists():
        assert killed.poll() is None, killed.stdout.read().decode()
        assert time.monotonic() < deadline, "the child never wrote a resume state"
        time.sleep(0.05)
    time.sleep(0.4)  # mid-way to the next checkpoint
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "kill" / "model.safetensors").exists(), "the run finished before the kill"
    saved_step = torch.load(state_file, weights_only=True)["step"]
    assert saved_step in (3, 6, 9)

    # other runtime-only settings on the rerun: the resume state stays valid
    rerun = spawn_cli(cli(tmp_path, "kill", ["--checkpoint-every", "5", "--log-every", "1", "--loader-workers", "1"],
                          model=model))
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out.decode()[-3000:]
    assert f"resuming from step {saved_step}" in (tmp_path / "kill.log").read_text()

    a, b = weights(tmp_path / "ref" / "model.safetensors"), weights(tmp_path / "kill" / "model.safetensors")
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ma, mb = pq.read_table(tmp_path / "ref" / "metrics.parquet"), pq.read_table(tmp_path / "kill" / "metrics.parquet")
    assert mb.column("step").to_pylist() == list(range(12))  # earlier rows kept, none duplicated
    for col in ("loss", "lr", "lr_min", "blur_sigma", "stage", "pool"):
        assert mb.column(col).to_pylist() == ma.column(col).to_pylist(), col
    assert ma.column("pool").to_pylist() == ["g0"] * 6 + ["g1"] * 6
    assert ma.column("blur_sigma").to_pylist()[0] == 1.0 and ma.column("blur_sigma").to_pylist()[-1] == 0.0
    assert ma.column("lr_min").to_pylist()[0] < ma.column("lr").to_pylist()[0]  # LeRaC: deep groups start low
    cfg = json.loads((tmp_path / "ref" / "run_spec.json").read_text())
    assert cfg["spec"]["curriculum_name"] == "dev" and cfg["world_size"] == 1 and cfg["global_batch"] == 4


def test_changed_config_does_not_resume(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from devcurriculum.train.loop import NonFiniteLossError

    with pytest.raises(NonFiniteLossError):  # leaves a resume state at step 4
        run_tiny(tmp_path, total=8, nan_at=5)
    with caplog.at_level(logging.INFO, logger="devcurriculum"):
        changed, _ = run_tiny(tmp_path, total=8, pretrain={"lr": 5e-3})
    assert changed.start_step == 0 and len(changed.losses) == 8
    assert "the run spec changed" in caplog.text
    assert not resume_path(tmp_path / "resume").exists()  # removed after the successful run


def test_checkpoint_cadence_and_threads_are_resume_neutral(tmp_path: Path) -> None:
    from devcurriculum.train.loop import NonFiniteLossError

    with pytest.raises(NonFiniteLossError):
        run_tiny(tmp_path, total=8, nan_at=5)
    neutral, _ = run_tiny(tmp_path, total=8, pretrain={"checkpoint_every": 3, "threads": 2, "log_every": 1})
    assert neutral.start_step == 4 and len(neutral.losses) == 4


def test_resume_from_a_mid_run_state_matches_in_process(tmp_path: Path) -> None:
    """Same contract without a subprocess: a NaN stops a run at step 6 (state at 4); rerun finishes."""
    from devcurriculum.train.loop import NonFiniteLossError

    full, _ = run_tiny(tmp_path, total=8, out="full", resume="rfull")
    with pytest.raises(NonFiniteLossError):
        run_tiny(tmp_path, total=8, nan_at=6, out="part", resume="rpart")
    # nan_at is not part of the spec, so the rerun resumes from the last good state
    resumed, _ = run_tiny(tmp_path, total=8, out="part", resume="rpart")
    assert resumed.start_step == 4
    assert pq.read_table(tmp_path / "part" / "metrics.parquet").column("loss").to_pylist() == full.losses
    a, b = weights(tmp_path / "full" / "model.safetensors"), weights(tmp_path / "part" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_prototype_curriculum_with_difficulty(tmp_path: Path, restore_globals: None) -> None:
    """A weighted curriculum through the CLI: difficulties joined on clip_id drive the sampler."""
    import numpy as np
    import pyarrow as pa

    from devcurriculum.train.run import main
    from devcurriculum.utils.io import write_table

    curriculum = {"order": "mixed", "weighting": {"kind": "prototypes_first", "initial_fraction": 0.2,
                                                  "warmup_fraction": 0.5}}
    args = make_run_inputs(tmp_path, curriculum=curriculum)
    ids = [f"{g}-{i}" for g in reversed(GROUPS) for i in range(8)]  # any row order: joined on clip_id
    write_table(pa.table({"clip_id": ids, "difficulty": np.linspace(0, 1, 16)}), tmp_path / "d.parquet")
    out = ["--out-dir", str(tmp_path / "p"), "--resume-dir", str(tmp_path / "p" / "resume")]
    assert main([*args, *out, "--difficulty", str(tmp_path / "d.parquet")]) == 0
    t = pq.read_table(tmp_path / "p" / "metrics.parquet").to_pydict()
    assert t["pool"] == ["g0+g1"] * 12 and t["stage"] == [0] * 12
    frac = t["effective_fraction"]
    assert frac[0] < 0.3 and frac[0] < frac[5] and all(np.isfinite(t["temperature"][:6]))
    with pytest.raises(ValueError, match="has a weighting block: pass --difficulty"):
        main([*args, *out])


def test_cli_inputs_are_checked_with_clear_errors(tmp_path: Path, restore_globals: None) -> None:
    from devcurriculum.curriculum.pools import difficulty_for
    from devcurriculum.datasets.clip_dataset import ClipCache
    from devcurriculum.train.spec import RunSpec

    with pytest.raises(ValueError, match=r"lacks key\(s\) \['clip'\]"):
        RunSpec.from_json(json.dumps({k: 0 for k in ("model_name", "model", "curriculum_name", "curriculum",
                                                     "pretrain", "seed", "groups")}))
    with pytest.raises(ValueError, match="not valid JSON"):
        RunSpec.from_json("{")
    with pytest.raises(ValueError, match=r"need one clip index per age group \['g0', 'g1'\]: got 1"):
        ClipCache.from_files(["c/g0.parquet"], ["c/g0.npy"], ["g0", "g1"])
    with pytest.raises(ValueError, match=r"clip index d/g1.parquet for group 'g1' should be c/g1.parquet"):
        ClipCache.from_files(["c/g0.parquet", "d/g1.parquet"], ["c/g0.npy", "d/g1.npy"], ["g0", "g1"])
    import pandas as pd
    import pyarrow as pa

    from devcurriculum.utils.io import write_table

    write_table(pa.table({"clip_id": ["a"], "difficulty": [0.5]}), tmp_path / "d.parquet")
    with pytest.raises(ValueError, match=r"1 clip\(s\) have no difficulty .* \['b'\]"):
        difficulty_for(pd.DataFrame({"clip_id": ["a", "b"]}), tmp_path / "d.parquet")
