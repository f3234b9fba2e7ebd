"""2-process DDP (gloo, torchrun) matches 1 process with the same global batch.

Construction that makes them comparable: the sampler draws the GLOBAL batch from a per-step seed and
each rank takes its slice; each rank's loss is a per-sample mean over equal-sized slices, and DDP
averages gradients, so the 2-process gradient is the 1-process gradient up to float summation order.
The objective here has no per-rank randomness (a masked objective would draw different masks per rank,
which only matches in distribution). Tolerance: relative 1e-5 on every step's loss (measured: about 1e-7), which covers the
float32 reduction-order differences compounding over the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_loop import run_tiny

TOTAL = 8
GLOBAL_BATCH = 4
HERE = Path(__file__).resolve()
TORCHRUN = Path(sys.executable).with_name("torchrun")


def child(tmp: str) -> None:
    """Entry point under torchrun (one launch, two runs, to pay the start-up once):

    1. the tiny objective through the loop: the same global batch, each rank takes half (read ahead
       by 2 loader threads per rank; the 1-process reference reads without);
    2. the real pretrain CLI (tiny VideoMAE, blur, LeRaC) with the same pretrain.batch_size (global),
       each rank with a loader process.
    """
    from devcurriculum.train.run import main
    from devcurriculum.utils import distributed as du

    torch.use_deterministic_algorithms(True)
    info = du.init_distributed("cpu")
    try:
        run_tiny(Path(tmp), total=TOTAL, noise=0.0, batch_size=GLOBAL_BATCH,
                 rank=info.rank, world_size=info.world_size, dist_info=info, out="ddp", resume="resume-ddp",
                 pretrain={"loader_workers": 2})
    except BaseException:
        du.cleanup()
        raise
    # main() keeps the process group already joined (re-creating it on torchrun's store port races)
    # and leaves it at the end.
    main([*cli_args(Path(tmp), "cli-ddp", GLOBAL_BATCH), "--loader-workers", "1", "--loader-kind", "process"])


def cli_args(tmp: Path, name: str, batch_size: int) -> list[str]:
    """The CLI arguments of a run with global batch ``batch_size``."""
    from test_resume import make_run_inputs

    return [*make_run_inputs(tmp, pretrain={"batch_size": batch_size}), "--out-dir", str(tmp / name),
            "--resume-dir", str(tmp / name / "resume"), "--log-file", str(tmp / f"{name}.log")]



def test_two_gloo_processes_match_one_process(tmp_path: Path, restore_globals: None) -> None:
    from test_resume import make_run_inputs

    make_run_inputs(tmp_path)  # clip folder and init weights, before the ranks start
    assert TORCHRUN.exists() or shutil.which("torchrun"), "torchrun not found next to the interpreter"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [str(TORCHRUN) if TORCHRUN.exists() else "torchrun", "--standalone", "--nproc_per_node", "2",
         str(HERE), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    torch.use_deterministic_algorithms(True)
    single, _ = run_tiny(tmp_path, total=TOTAL, noise=0.0, batch_size=GLOBAL_BATCH, out="one", resume="resume-one")

    ddp = pq.read_table(tmp_path / "ddp" / "metrics.parquet").to_pydict()
    assert ddp["global_batch"] == [GLOBAL_BATCH] * TOTAL
    assert ddp["step"] == list(range(TOTAL))
    np.testing.assert_allclose(ddp["loss"], single.losses, rtol=1e-5)
    assert single.losses[0] == ddp["loss"][0] or abs(single.losses[0] - ddp["loss"][0]) < 1e-6
    a, b = load_file(str(tmp_path / "ddp" / "model.safetensors")), load_file(str(tmp_path / "one" / "model.safetensors"))
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-3, atol=1e-5)
    cfg = json.loads((tmp_path / "ddp" / "run_spec.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == GLOBAL_BATCH and cfg["rank_batch"] == GLOBAL_BATCH // 2
    # only rank 0 wrote, and removed its resume state after the final outputs
    assert list((tmp_path / "resume-ddp").iterdir()) == []

    # The real CLI (tiny VideoMAE + blur + LeRaC) under the same 2-process launch vs 1 process with
    # the same global batch. VideoMAE draws tube masks per rank (rank 0 continues the 1-process mask
    # stream for its half, rank 1 has its own), so the curves agree in distribution only: per-step
    # losses within 2 % (measured: at most 0.3 %). With norm_pix_loss these early losses sit near 1,
    # so this is an integration check; the exact equivalence is the tiny-objective check above.
    from devcurriculum.train.run import main

    assert main(cli_args(tmp_path, "cli-one", GLOBAL_BATCH)) == 0
    two = pq.read_table(tmp_path / "cli-ddp" / "metrics.parquet").to_pydict()
    one = pq.read_table(tmp_path / "cli-one" / "metrics.parquet").to_pydict()
    assert two["global_batch"] == one["global_batch"] == [GLOBAL_BATCH] * len(one["step"])
    for col in ("step", "stage", "pool", "lr", "lr_min", "blur_sigma"):
        assert two[col] == one[col], col
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=0.02)
    cfg = json.loads((tmp_path / "cli-ddp" / "run_spec.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == GLOBAL_BATCH and cfg["rank_batch"] == GLOBAL_BATCH // 2
    assert cfg["spec"]["pretrain"]["batch_size"] == GLOBAL_BATCH  # the same spec as the 1-process run
    assert cfg["spec"] == json.loads((tmp_path / "cli-one" / "run_spec.json").read_text())["spec"]
    assert "global batch 4 (2 per rank x 2 rank(s))" in (tmp_path / "cli-ddp.log").read_text()


if __name__ == "__main__":
    child(sys.argv[1])
