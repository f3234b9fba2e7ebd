"""Standard NT-Xent (SimCLR's normalised temperature-scaled cross entropy) with negatives from every rank.

docs/algorithms.md §A, "SimCLR": the reference's loss is not InfoNCE; we use the standard one. For a global batch of
``M`` positive pairs ``(z1_i, z2_i)`` the ``2M`` L2-normalised embeddings form a similarity matrix
``s_ab = <z_a, z_b> / temperature``; each anchor's positive is its partner and its negatives are the
other ``2M - 2`` embeddings; the loss is the mean over all ``2M`` anchors of
``-log softmax_{b != a}(s_ab)[partner(a)]``.

Across DDP ranks the embeddings are all-gathered and the rank's own slice is replaced by its local
(differentiable) tensor, so every rank computes the same global loss value, while gradients flow only
into its own samples. DDP then *averages* parameter gradients over ranks; since each rank holds only
its samples' share of the global gradient, the share is multiplied by the world size on the way back
(:class:`_ScaleGrad`), and the DDP mean equals the exact single-process gradient of the global loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the incoming gradient by ``scale`` (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_local_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank in rank order; only the local slice carries gradient.

    Every rank must pass the same number of rows (the loss needs the global batch to line up pairs);
    a mismatch raises instead of hanging in ``all_gather``.
    """
    if not _distributed():
        return tensor
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([tensor.shape[0]], device=tensor.device))
    counts = [int(s.item()) for s in sizes]
    if len(set(counts)) != 1:
        raise RuntimeError(f"nt_xent with gather=True needs equal per-rank batch sizes, got {counts} (rank order)")
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[rank] = _ScaleGrad.apply(tensor, float(world))
    return torch.cat(parts, dim=0)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float, gather: bool = True) -> torch.Tensor:
    """NT-Xent of positive pairs ``(z1[i], z2[i])``; negatives gathered across ranks when ``gather``.

    ``z1``/``z2`` are ``(N, D)`` (not necessarily normalised). Returns the mean over all ``2 * N_global``
    anchors. Example (docs/algorithms.md §A, "SimCLR"): features [[1,0],[0.8,0.6],[0,1],[-0.6,0.8]] with pairs (0,1),
    (2,3) and temperature 0.1 give 0.063780.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent needs two (N, D) tensors of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z1.shape[0] < 1:
        raise ValueError("nt_xent needs at least one pair")
    z1 = F.normalize(z1.float(), dim=1)
    z2 = F.normalize(z2.float(), dim=1)
    if gather:
        z1 = gather_with_local_grad(z1)
        z2 = gather_with_local_grad(z2)
    n = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)
    logits = z @ z.T / temperature
    # An anchor is never its own negative.
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    idx = torch.arange(n, device=z.device)
    partner = torch.cat([idx + n, idx])
    return F.cross_entropy(logits, partner)
