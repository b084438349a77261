"""Per-group FIFO memory bank (CCP's language-specific memory, Wu et al., IJCAI 2022).

One queue of ``size`` slots per group key 0..G-1 (a language, a region): rows enqueued with group
g overwrite the oldest rows of queue g only, so every queue keeps the most recent ``size`` rows of
its own group. A loss then scores each query against the queue of ITS group only (negatives from
the same distribution; :class:`representation.losses.CCPLoss`). The bank enqueues the gathered
batch (detached), so it is identical on every rank.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.blocks.whitening import CCP_CITATION
from representation.distributed.gather import GatherSpec, gather
from representation.registry import register

_NO_GRAD = GatherSpec(local_loss=False, with_grad=False)


@register("grouped_memory_bank", kind="memory")
class GroupedMemoryBank(nn.Module):
    """Buffers ``bank`` [G, size, D], ``ptr`` [G], ``filled`` [G].

    ``entries() -> (rows [G * size, D], group [G * size], valid [G * size])`` (slot-major per
    group; unfilled slots are invalid); ``enqueue(rows [n, D], groups [n])`` (already gathered);
    ``push(rows, groups)`` gathers across ranks first.
    """

    citation = CCP_CITATION

    def __init__(self, num_groups: int, size: int, dim: int) -> None:
        super().__init__()
        if num_groups < 1 or size < 1 or dim < 1:
            raise ValueError("num_groups, size and dim must be >= 1")
        self.num_groups, self.size, self.dim = int(num_groups), int(size), int(dim)
        self.register_buffer("bank", torch.zeros(num_groups, size, dim))
        self.register_buffer("ptr", torch.zeros(num_groups, dtype=torch.long))
        self.register_buffer("filled", torch.zeros(num_groups, dtype=torch.long))

    def entries(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = self.bank.reshape(-1, self.dim)
        group = torch.arange(self.num_groups, device=rows.device).repeat_interleave(self.size)
        slot = torch.arange(self.size, device=rows.device).repeat(self.num_groups)
        return rows, group, slot < self.filled[group]

    @torch.no_grad()
    def enqueue(self, rows: torch.Tensor, groups: torch.Tensor) -> None:
        groups = groups.to(torch.long).reshape(-1)
        if rows.shape[0] != groups.numel() or (rows.dim() == 2 and rows.shape[1] != self.dim):
            raise ValueError(f"rows must be [n, {self.dim}] with one group each, got {tuple(rows.shape)} "
                             f"and {groups.numel()} groups")
        if groups.numel() and (int(groups.min()) < 0 or int(groups.max()) >= self.num_groups):
            raise ValueError(f"group ids must be in [0, {self.num_groups})")
        for g in torch.unique(groups).tolist():
            new = rows[groups == g].detach()[-self.size:]
            idx = (int(self.ptr[g]) + torch.arange(new.shape[0], device=self.bank.device)) % self.size
            self.bank[g, idx] = new.to(self.bank)
            self.ptr[g] = (int(self.ptr[g]) + new.shape[0]) % self.size
            self.filled[g] = min(int(self.filled[g]) + new.shape[0], self.size)

    def push(self, rows: torch.Tensor, groups: torch.Tensor) -> None:
        """Enqueue every rank's rows (rank order), so the bank stays identical on all ranks."""
        self.enqueue(gather(rows.detach(), _NO_GRAD).tensor, gather(groups.reshape(-1), _NO_GRAD).tensor)

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_groups": self.num_groups, "size": self.size, "dim": self.dim}
