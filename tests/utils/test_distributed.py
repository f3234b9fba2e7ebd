"""Rank discovery order (torchrun first, SLURM fallback) and single-process collectives."""

from __future__ import annotations

import pytest
import torch

from devcurriculum.utils import distributed as du


def test_torchrun_variables_win_over_slurm() -> None:
    # Inside a SLURM jobstep every torchrun worker inherits SLURM_PROCID=0.
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "SLURM_PROCID": "0", "SLURM_NTASKS": "1",
           "SLURM_LOCALID": "0"}
    assert du.discover_rank(env) == du.DistInfo(1, 2, 1, "torchrun")


def test_slurm_is_the_fallback() -> None:
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1"}
    info = du.discover_rank(env)
    assert info == du.DistInfo(3, 4, 1, "slurm") and info.is_distributed and not info.is_main


def test_single_process_without_variables_or_one_slurm_task() -> None:
    assert du.discover_rank({}) == du.DistInfo(0, 1, 0, "single")
    assert du.discover_rank({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).source == "single"


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*du.TORCHRUN_VARS, *du.SLURM_VARS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert du.discover_rank().source == "slurm"
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert du.discover_rank() == du.DistInfo(0, 2, 0, "torchrun")


def test_bad_environments_are_named() -> None:
    with pytest.raises(RuntimeError, match="WORLD_SIZE is required"):
        du.discover_rank({"RANK": "0"})
    with pytest.raises(RuntimeError, match=r"RANK='x' is not an integer"):
        du.discover_rank({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(RuntimeError, match="rank 2 is outside world size 2"):
        du.discover_rank({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_backend_follows_the_device() -> None:
    assert du.backend_for("cpu") == "gloo"
    assert du.backend_for(torch.device("cuda", 0)) == "nccl"


def test_init_without_rendezvous_address_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(RuntimeError, match="needs MASTER_ADDR, MASTER_PORT"):
        du.init_distributed("cpu", du.DistInfo(1, 2, 1, "slurm"))


def test_single_process_helpers_are_identities() -> None:
    info = du.init_distributed("cpu", du.DistInfo(0, 1, 0, "single"))
    assert info.world_size == 1 and du.is_main()
    t = torch.tensor([1.0, 3.0])
    out = du.all_reduce_mean(t)
    assert torch.equal(out, t) and out is not t
    assert du.all_gather_objects({"a": 1}) == [{"a": 1}]
    du.barrier()
    du.cleanup()
