"""Non-differentiable reductions across ranks (counts used to normalise local losses)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from representation.distributed.gather import world


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over all ranks, detached (no gradient). Identity in one process."""
    _, size = world()
    if size == 1:
        return x.detach()
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y
