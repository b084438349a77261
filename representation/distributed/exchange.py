"""Ring exchange of features between neighbouring ranks (SigLIP's alternative to all-gather).

Step s hands every rank the keys that rank ``(rank - s) mod W`` produced, passing them one
hop to the right per step with point-to-point send/recv. The exchange is differentiable:
the backward pass sends gradients one hop to the left, so every key's gradient returns to
the rank that produced it, as with a gather that carries gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from representation.distributed.gather import world


def _exchange(x: torch.Tensor, to_rank: int, from_rank: int) -> torch.Tensor:
    out = torch.empty_like(x)
    ops = [dist.P2POp(dist.isend, x.contiguous(), to_rank), dist.P2POp(dist.irecv, out, from_rank)]
    for req in dist.batch_isend_irecv(ops):
        req.wait()
    return out


class _NeighbourExchange(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, to_rank: int, from_rank: int, x: torch.Tensor) -> torch.Tensor:
        ctx.to_rank, ctx.from_rank = to_rank, from_rank
        return _exchange(x, to_rank, from_rank)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, _exchange(grad, ctx.from_rank, ctx.to_rank)


def neighbour_exchange(x: torch.Tensor) -> torch.Tensor:
    """Send ``x`` to rank + 1 and return what rank - 1 sent (mod W); differentiable. Identity for W = 1."""
    rank, size = world()
    if size == 1:
        return x
    return _NeighbourExchange.apply((rank + 1) % size, (rank - 1) % size, x)


def ring_pass(x: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(source_rank, tensor)`` for s = 0..W-1: first the local ``x``, then the tensors of
    ranks rank-1, rank-2, ... (each one hop further round the ring). All ranks must consume
    the whole iterator (every step is a collective-like exchange)."""
    rank, size = world()
    cur = x
    for s in range(size):
        yield (rank - s) % size, cur
        if s < size - 1:
            cur = neighbour_exchange(cur)
