"""The pretrain rule's launcher command line (devcurriculum.launch), for every kind of job it starts."""

from __future__ import annotations

import shlex

import pytest

from devcurriculum.launch import gpus_per_node, nproc_per_node, torchrun_launcher

PY = "/opt/venv/bin/python"


@pytest.mark.parametrize(
    ("resources", "gpus"),
    [
        ({}, 0),
        ({"gpu": 0}, 0),
        ({"gpu": None, "gres": None}, 0),
        ({"gpu": 2}, 2),
        ({"gpu": "4"}, 4),
        ({"gres": "gpu"}, 1),
        ({"gres": "gpu:4"}, 4),
        ({"gres": "gpu:a100:8"}, 8),
        ({"gpu": 2, "gres": "gpu:a100:8"}, 2),  # gpu wins when both are set
        ({"gres": "shard:2"}, 0),  # not a GPU request
    ],
)
def test_gpus_per_node(resources: dict, gpus: int) -> None:
    assert gpus_per_node(resources) == gpus


def test_nproc_is_the_gpus_when_granted_else_the_cpu_processes() -> None:
    assert nproc_per_node({"gpu": 0}, cpu_processes=3) == 3
    assert nproc_per_node({"gres": "gpu:a100:4"}, cpu_processes=3) == 4


def test_cpu_job_is_standalone_with_the_configured_processes() -> None:
    assert torchrun_launcher({"gpu": 0}, python=PY, cpu_processes=2) == (
        "/opt/venv/bin/python -m torch.distributed.run --standalone --nproc_per_node 2"
    )


def test_one_process_on_one_node_needs_no_torchrun() -> None:
    # world size 1 joins no process group: the entry point runs as a plain process (and can be a warm job)
    assert torchrun_launcher({"gpu": 0}, python=PY, cpu_processes=1) == "/opt/venv/bin/python"
    assert torchrun_launcher({"gpu": 1}, python=PY, cpu_processes=2) == "/opt/venv/bin/python"
    assert shlex.split(torchrun_launcher({}, python="/a user/python", cpu_processes=1)) == ["/a user/python"]


def test_n_gpus_on_one_node() -> None:
    assert torchrun_launcher({"gpu": 4}, python=PY, cpu_processes=2) == (
        "/opt/venv/bin/python -m torch.distributed.run --standalone --nproc_per_node 4"
    )


def test_multi_node_mpi_job_runs_one_torchrun_agent_per_node_meeting_through_c10d() -> None:
    resources = {"mpi": "srun", "nodes": 2, "cpus_per_task": 32, "gres": "gpu:a100:4"}
    assert torchrun_launcher(resources, python=PY, cpu_processes=1) == (
        "srun --nodes 2 --ntasks 2 --ntasks-per-node 1 --cpus-per-task 32"
        " /opt/venv/bin/python -m torch.distributed.run --nnodes 2 --nproc_per_node 4"
        " --rdzv_id $SLURM_JOB_ID --rdzv_backend c10d --rdzv_endpoint $(hostname):29500"
    )


def test_mpi_job_without_nodes_is_one_node_of_cpu_processes() -> None:
    command = torchrun_launcher({"mpi": "srun", "cpus_per_task": 3}, python=PY, cpu_processes=2)
    assert command.startswith("srun --nodes 1 --ntasks 1 --ntasks-per-node 1 --cpus-per-task 3 ")
    assert " --nnodes 1 --nproc_per_node 2 " in command


def test_mpi_job_without_cpus_per_task_names_the_resource() -> None:
    with pytest.raises(ValueError, match=r"^resources: mpi='srun' needs cpus_per_task \(srun would start"):
        torchrun_launcher({"mpi": "srun", "nodes": 2}, python=PY, cpu_processes=1)


@pytest.mark.parametrize("resources", [{"gpu": 0}, {"mpi": "srun", "nodes": 2, "cpus_per_task": 4}])
def test_an_interpreter_path_with_spaces_is_one_shell_word(resources: dict) -> None:
    python = "/home/a user/my env/bin/python"
    words = shlex.split(torchrun_launcher(resources, python=python, cpu_processes=2))
    assert python in words
    assert words[words.index(python) + 1 : words.index(python) + 3] == ["-m", "torch.distributed.run"]
