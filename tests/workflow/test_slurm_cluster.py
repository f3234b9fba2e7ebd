"""End to end through the real local SLURM cluster with ``profiles/slurm`` (docs/slurm.md "Tests").

A session fixture brings up the one-node cluster (``scripts/slurm_local_cluster.sh up``; the test
skips only when SLURM cannot be installed, exit code 3) and stops it again if it started it. Each
case then runs ``snakemake --profile profiles/slurm --profile profiles/slurm/test`` and proves that
every job was a SLURM job: one ``sbatch`` submission per job in Snakemake's log, one SLURM log per job
under ``.snakemake/slurm_logs``, and (for the tiny workflow) outputs written from inside a SLURM job
step.

The workflow under test is a parameter (:class:`Case`): a tiny self-contained Snakefile with a
``pretrain``-like rule, and the multi-node launch path (``mpi`` resource + ``srun torchrun`` with c10d
rendezvous, 2 gloo workers) on the one local node, and the real workflow on its ``.test`` config
(every stage from the demo videos to the summary, pretraining through torchrun inside a SLURM job).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wfutil import REPO, snakemake_env, write_config

pytestmark = pytest.mark.slurm

CLUSTER = REPO / "scripts" / "slurm_local_cluster.sh"
PROFILES = (REPO / "profiles" / "slurm", REPO / "profiles" / "slurm" / "test")
CANNOT_INSTALL = 3

_SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


@dataclass(frozen=True)
class Case:
    """One workflow run through the cluster.

    ``prepare(workdir)`` writes whatever the run needs into the (empty) working directory and
    returns the snakemake arguments that select it (``--snakefile``, ``--configfile``, targets ...).
    ``check(workdir)`` makes case-specific assertions after a successful run.
    """

    name: str
    prepare: Callable[[Path], list[str]]
    jobs: int | None  # how many jobs the run must submit to SLURM; None: every non-local job of a dry run
    check: Callable[[Path], None] | None = None


# ---- the tiny self-contained workflow ----------------------------------------------------------

# Three chained rules; every output records the SLURM job id, job step id and CPUs the job saw.
# `pretrain` has the real rule's name and resource shape (gpu=0 in the rule, threads and a gpu
# request from the profile layers), so the profile's pretrain entry is what gets submitted.
TINY_SNAKEFILE = r"""
SLURM_ENV = "echo job=$SLURM_JOB_ID step=${{SLURM_STEP_ID:-none}} cpus=${{SLURM_CPUS_PER_TASK:-none}}"


rule all:
    input:
        "results/summary.txt",


rule make_demo_videos:
    output:
        "results/videos.txt",
    shell:
        SLURM_ENV + " > {output}"


rule pretrain:
    input:
        "results/videos.txt",
    output:
        "results/model.txt",
    threads: 1
    resources:
        gpu=0,
    shell:
        SLURM_ENV + " gpu={resources.gpu} threads={threads} > {output}"


rule summarize:
    input:
        "results/videos.txt",
        "results/model.txt",
    output:
        "results/summary.txt",
    shell:
        "cat {input} > {output} && " + SLURM_ENV + " >> {output}"
"""

_RECORD = re.compile(r"job=(\d+) step=(\S+) cpus=(\S+)")


def _prepare_tiny(workdir: Path) -> list[str]:
    (workdir / "Snakefile").write_text(TINY_SNAKEFILE)
    return ["--snakefile", str(workdir / "Snakefile")]


def _check_tiny(workdir: Path) -> None:
    records = {
        name: _RECORD.findall((workdir / "results" / f"{name}.txt").read_text())
        for name in ("videos", "model")
    }
    summary = _RECORD.findall((workdir / "results" / "summary.txt").read_text())
    # summary.txt = videos record + model record + its own record.
    assert len(summary) == 3, summary
    job_ids = [records["videos"][0][0], records["model"][0][0], summary[2][0]]
    assert len(set(job_ids)) == 3, f"each rule must be its own SLURM job: {job_ids}"
    for job, step, _cpus in [records["videos"][0], records["model"][0], summary[2]]:
        assert step.isdigit(), f"job {job} did not run inside an srun job step (step={step})"
    # The test layer gives pretrain 2 threads and --cpus-per-task=2, and no GPU.
    model = (workdir / "results" / "model.txt").read_text()
    assert records["model"][0][2] == "2", model
    assert "gpu=0 threads=2" in model


TINY = Case("tiny", _prepare_tiny, jobs=3, check=_check_tiny)


# ---- the multi-node launch path (mpi resource + srun torchrun), on the one local node ----------

# The command line proposed for the real pretrain rule under profiles/slurm-multinode (docs/slurm.md),
# with nodes=1 and 2 CPU workers so it fits the local node. The jobstep runs `mpi` jobs without an
# srun wrapper and strips SLURM_* (except SLURM_JOB_ID) from the rule's shell, so the node count
# comes from {resources.nodes}, not $SLURM_NNODES, and the rendezvous host is the batch host, which
# SLURM makes the first node of the allocation.
MPI_SNAKEFILE = r"""
rule pretrain_multinode:
    input:
        script="ddp_probe.py",
    output:
        "results/ranks.txt",
    params:
        port=config["port"],
    threads: 1
    resources:
        mpi="srun",
        nodes=1,
        tasks=2,
        cpus_per_task=1,
        mem_mb=2000,
    shell:
        "echo outer_nnodes=${{SLURM_NNODES:-unset}} > {output}.outer && "
        "{resources.mpi} --nodes {resources.nodes} --ntasks {resources.nodes} --ntasks-per-node 1"
        " --cpus-per-task {resources.cpus_per_task}"
        " torchrun --nnodes {resources.nodes} --nproc_per_node 2"
        " --rdzv_id $SLURM_JOB_ID --rdzv_backend c10d --rdzv_endpoint $(hostname):{params.port}"
        " {input.script} {output}"
"""

# Each torchrun worker joins a gloo group, all-reduces its rank + 1, and rank 0 writes what it saw.
DDP_PROBE = r"""
import os, sys
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
seen = [None] * dist.get_world_size()
dist.all_gather_object(seen, (os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ.get("SLURM_STEP_ID")))
if dist.get_rank() == 0:
    with open(sys.argv[1], "w") as f:
        f.write(f"world={dist.get_world_size()} sum={value.item():g}\n")
        f.writelines(f"rank={r} local={l} step={s}\n" for r, l, s in seen)
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _prepare_mpi(workdir: Path) -> list[str]:
    (workdir / "Snakefile").write_text(MPI_SNAKEFILE)
    (workdir / "ddp_probe.py").write_text(DDP_PROBE)
    return ["--snakefile", str(workdir / "Snakefile"), "--config", f"port={_free_port()}"]


def _check_mpi(workdir: Path) -> None:
    ranks = (workdir / "results" / "ranks.txt").read_text().splitlines()
    assert ranks[0] == "world=2 sum=3", ranks
    assert sorted(ranks[1:]) == ["rank=0 local=0 step=0", "rank=1 local=1 step=0"], ranks
    # Why the rule must not read $SLURM_NNODES: the jobstep removed it from the rule's shell.
    assert (workdir / "results" / "ranks.txt.outer").read_text().strip() == "outer_nnodes=unset"


MPI = Case("mpi_torchrun", _prepare_mpi, jobs=1, check=_check_mpi)


# ---- the real workflow on its .test config -------------------------------------------------------


def _prepare_real(workdir: Path) -> list[str]:
    # Every rule of the DAG, each once or twice: unsharded stages and one benchmark keep it to ~30 SLURM jobs.
    config = write_config(workdir, {"data.chunk_shards": 1, "features.shards": 1, "evaluation.embed_shards": 1,
                                    "voe.shards": 1, "benchmarks.demo_objects": None})
    return ["--snakefile", str(REPO / "Snakefile"), "--configfile", str(config)]


def _check_real(workdir: Path) -> None:
    import pandas as pd

    summary = pd.read_parquet(workdir / "results" / "summary.parquet")
    # The untrained model is each run's after_stage 0, not a curriculum of its own.
    assert set(summary["curriculum"]) == {"developmental", "prototype"}
    assert 0 in set(summary["after_stage"]) and summary["after_stage"].max() == 3
    # scores lie in [0, 1]; Hedges' g is an effect size (any real; NaN when its groups have no spread), and
    # the reference's absolute accuracy is NaN for 9 pairs or fewer (the .test VoE set has 2 per property)
    scores = summary[~summary["metric"].str.startswith("hedges_g_")]
    undefined = scores[scores["value"].isna()]
    assert undefined["metric"].str.startswith("absolute_accuracy").all(), undefined
    assert scores["value"].dropna().between(0, 1).all()
    # pretrain ran under torchrun inside its SLURM job: its log holds the training loop's lines.
    log = (workdir / "results" / "logs" / "pretrain" / "videomae" / "developmental" / "seed0.log").read_text()
    assert "global batch 4 (4 per rank x 1 rank(s))" in log, log[-2000:]


REAL = Case("workflow_dot_test", _prepare_real, jobs=None, check=_check_real)
CASES = [pytest.param(c, id=c.name) for c in (TINY, MPI, REAL)]


def expected_submissions(workdir: Path, args: list[str]) -> int:
    """Jobs of a dry run that SLURM must see: every ``rule`` job except the target rule ``all``,
    which has no action and is finished by Snakemake itself without a submission."""
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--dry-run", "--cores", "1", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=snakemake_env(), capture_output=True, text=True, check=True)
    rules = re.findall(r"^(?:rule|checkpoint) (\w+):\s*$", proc.stdout, flags=re.MULTILINE)
    assert "all" in rules, proc.stdout[-3000:]
    return sum(1 for rule in rules if rule != "all")


# ---- cluster and runner ------------------------------------------------------------------------


def _cluster(action: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER), action], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """The local one-node cluster; stopped afterwards only if this fixture started it."""
    was_running = _cluster("status").returncode == 0
    started = time.monotonic()
    up = _cluster("up")
    if up.returncode == CANNOT_INSTALL:
        pytest.skip(f"SLURM cannot be installed here: {up.stderr.strip()[-500:]}")
    assert up.returncode == 0, f"slurm_local_cluster.sh up failed ({up.returncode}):\n{up.stderr[-4000:]}"
    print(f"local SLURM cluster ready in {time.monotonic() - started:.1f} s")
    yield
    if not was_running:
        down = _cluster("down")
        assert down.returncode == 0, down.stderr


def run_through_slurm(workdir: Path, args: list[str], timeout: int = 1200) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    # A snakemake started from inside a SLURM job would inherit that job's identity.
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SRUN_"))]:
        del env[var]
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir)]
    for profile in PROFILES:
        cmd += ["--profile", str(profile)]
    cmd += args
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / ".snakemake").glob("slurm_logs/**/*.log"))
        )
        raise AssertionError(
            f"snakemake through SLURM failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stderr\n{proc.stderr[-8000:]}\n{logs[-6000:]}"
        )
    return proc


@pytest.mark.parametrize("case", CASES)
def test_every_job_runs_as_a_slurm_job(slurm_cluster: None, case: Case, tmp_path: Path) -> None:
    args = case.prepare(tmp_path)
    jobs = case.jobs if case.jobs is not None else expected_submissions(tmp_path, args)
    assert jobs > 0
    started = time.monotonic()
    proc = run_through_slurm(tmp_path, args)
    print(f"{case.name}: {jobs} SLURM jobs in {time.monotonic() - started:.1f} s")

    log = proc.stdout + proc.stderr
    submitted = dict(_SUBMITTED.findall(log))  # snakemake job id -> SLURM job id
    assert len(submitted) == jobs, f"expected {jobs} sbatch submissions:\n{log[-6000:]}"
    assert len(set(submitted.values())) == jobs, "SLURM job ids must be distinct"
    assert "Finished jobid" in log or "steps (100%) done" in log

    # One SLURM log per job (the test layer keeps successful logs), named by its SLURM job id.
    slurm_logs = {p.stem for p in (tmp_path / ".snakemake" / "slurm_logs").glob("**/*.log")}
    assert slurm_logs == set(submitted.values()), (slurm_logs, submitted)

    # The jobs were really scheduled by SLURM: squeue (MinJobAge=600) still knows them as COMPLETED.
    states = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--jobs", ",".join(submitted.values())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {line.split("|")[1] for line in states.split()} == {"COMPLETED"}, states

    if case.check is not None:
        case.check(tmp_path)
