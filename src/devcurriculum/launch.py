"""The ``pretrain`` rule's launcher: torchrun on one node, or one ``srun`` task per node meeting through c10d.

``rules/common.smk`` passes a job's resources (Snakemake's, looked up by name like a dict) and gets
the start of the rule's shell command (docs/slurm.md). Only runtime settings go in, so Snakemake never
reruns a job because of them. torchrun is started as ``python -m torch.distributed.run`` with the
workflow's own interpreter, never looked up on ``PATH``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

#: the c10d rendezvous port on the batch host of a multi-node job
RDZV_PORT = 29500


def gpus_per_node(resources: Mapping[str, Any]) -> int:
    """GPUs per node from ``gpu`` (single node) or ``gres: gpu[:type]:N`` (multi-node; per node)."""
    gpus = int(resources.get("gpu", 0) or 0)
    gres = str(resources.get("gres", "") or "")
    if not gpus and gres.startswith("gpu"):
        gpus = int(gres.rsplit(":", 1)[-1]) if ":" in gres else 1
    return gpus


def nproc_per_node(resources: Mapping[str, Any], *, cpu_processes: int) -> int:
    """GPUs when the profile grants them (clusters), else ``cpu_processes`` CPU processes (gloo)."""
    gpus = gpus_per_node(resources)
    return gpus if gpus > 0 else cpu_processes


def torchrun_launcher(resources: Mapping[str, Any], *, python: str, cpu_processes: int) -> str:
    """``python -m torch.distributed.run --standalone`` on one node (the interpreter alone for one process);
    ``srun`` it with c10d across nodes.

    ``python`` is the interpreter (quoted here); ``cpu_processes`` is ``pretrain.nproc``, used when no
    GPU is granted. With an ``mpi`` resource (the launcher, e.g. ``srun``) the job spans ``nodes``
    nodes: inside an ``mpi`` job the SLURM executor strips SLURM_* variables from the shell, so the
    node count comes from the job's resources and the rendezvous host is the batch node itself; and
    without SLURM_CPUS_PER_TASK a bare ``srun`` would give the launcher one CPU, so ``cpus_per_task``
    is required.
    """
    nproc = nproc_per_node(resources, cpu_processes=cpu_processes)
    run = f"{shlex.quote(python)} -m torch.distributed.run"
    mpi = resources.get("mpi")
    if not mpi and nproc == 1:
        # one process: world size 1 joins no process group, so torchrun would only add its own start-up
        # (a second interpreter importing torch, ~2 s); the entry point runs the same code without it
        return shlex.quote(python)
    if not mpi:
        return f"{run} --standalone --nproc_per_node {nproc}"
    cpus = resources.get("cpus_per_task")
    if cpus is None:
        raise ValueError(
            f"resources: mpi={mpi!r} needs cpus_per_task (srun would start each node's launcher with 1 CPU)"
        )
    nodes = int(resources.get("nodes", 1))
    return (
        f"{mpi} --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1"
        f" --cpus-per-task {cpus}"
        f" {run} --nnodes {nodes} --nproc_per_node {nproc}"
        f" --rdzv_id $SLURM_JOB_ID --rdzv_backend c10d --rdzv_endpoint $(hostname):{RDZV_PORT}"
    )
