"""NT-Xent: the reference value of docs/algorithms.md §A, a direct formula check, and cross-rank gathering."""

from __future__ import annotations

import math
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from devcurriculum.models.losses import nt_xent

FEATURES = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])


def test_reference_value() -> None:
    # Pairs (0, 1) and (2, 3), temperature 0.1 -> 0.063780 (docs/algorithms.md §A, "SimCLR": standard NT-Xent).
    loss = nt_xent(FEATURES[[0, 2]], FEATURES[[1, 3]], temperature=0.1)
    assert loss.item() == pytest.approx(0.063780, abs=1e-5)


def _naive(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n = z1.shape[0]
    total = 0.0
    for a in range(2 * n):
        partner = (a + n) % (2 * n)
        sims = [math.exp(float(z[a] @ z[b]) / tau) for b in range(2 * n) if b != a]
        total += -math.log(math.exp(float(z[a] @ z[partner]) / tau) / sum(sims))
    return total / (2 * n)


@pytest.mark.parametrize("n,d,tau", [(1, 3, 0.5), (5, 8, 0.1), (16, 4, 1.0)])
def test_matches_the_formula(n: int, d: int, tau: float) -> None:
    gen = torch.Generator().manual_seed(n * 100 + d)
    z1, z2 = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(_naive(z1, z2, tau), rel=1e-5)


def test_scale_invariant_and_symmetric() -> None:
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    base = nt_xent(z1, z2, 0.2)
    assert nt_xent(3 * z1, 0.5 * z2, 0.2).item() == pytest.approx(base.item(), rel=1e-6)
    assert nt_xent(z2, z1, 0.2).item() == pytest.approx(base.item(), rel=1e-6)


def test_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.zeros(2, 3), torch.zeros(3, 3), 0.1)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.ones(2, 3), torch.ones(2, 3), 0.0)


# ---- two-process gloo run ------------------------------------------------------------------------

GLOBAL_BATCH, DIM_IN, DIM_OUT, TAU = 8, 6, 4, 0.2


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.nn.Linear]:
    gen = torch.Generator().manual_seed(123)
    x1 = torch.randn(GLOBAL_BATCH, DIM_IN, generator=gen)
    x2 = x1 + 0.3 * torch.randn(GLOBAL_BATCH, DIM_IN, generator=gen)
    torch.manual_seed(7)
    return x1, x2, torch.nn.Linear(DIM_IN, DIM_OUT)


def _worker(rank: int, world: int, port: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        x1, x2, head = _data()
        # Single-process reference on the global batch.
        ref_x1, ref_x2 = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
        ref_loss = nt_xent(head(ref_x1), head(ref_x2), TAU, gather=False)
        ref_loss.backward()
        ref_w, ref_b = head.weight.grad.clone(), head.bias.grad.clone()
        head.zero_grad()

        # This rank's half, negatives gathered from the other rank.
        part = slice(rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world)
        loc_x1, loc_x2 = x1[part].clone().requires_grad_(True), x2[part].clone().requires_grad_(True)
        loss = nt_xent(head(loc_x1), head(loc_x2), TAU, gather=True)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
        loss.backward()
        # DDP averages parameter gradients over ranks: that mean must be the global gradient.
        for grad, ref in ((head.weight.grad, ref_w), (head.bias.grad, ref_b)):
            mean = grad.clone()
            dist.all_reduce(mean)
            mean /= world
            torch.testing.assert_close(mean, ref, rtol=1e-5, atol=1e-7)
        # Per-sample gradients are the global ones scaled by the world size (undone by DDP's mean).
        torch.testing.assert_close(loc_x1.grad / world, ref_x1.grad[part], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(loc_x2.grad / world, ref_x2.grad[part], rtol=1e-5, atol=1e-7)

        # Unequal per-rank batches fail loudly instead of hanging.
        rows = 2 if rank == 0 else 3
        with pytest.raises(RuntimeError, match="equal per-rank batch sizes"):
            nt_xent(torch.randn(rows, 3), torch.randn(rows, 3), TAU, gather=True)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gathered_loss_matches_single_process_on_two_gloo_ranks() -> None:
    # "fork" reuses the already imported torch (a fresh "spawn" interpreter costs seconds per rank);
    # the parent has not joined a process group, so forking is safe here.
    mp.start_processes(_worker, args=(2, _free_port()), nprocs=2, join=True, start_method="fork")
