"""Rehearsal buffer for continual learning (reservoir sampling, Vitter 1985; as used by COCONUT's
experience replay).

After seeing t samples, each of them is in the buffer with probability ``capacity / t``, whatever
the order in which classes arrive, so earlier tasks stay represented in proportion to their size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register


@register("rehearsal_buffer", kind="memory")
class RehearsalBuffer(nn.Module):
    """``add(x [n, ...], y [n])``, ``sample(k) -> (x [k, ...], y [k])``, ``items() -> (x, y)``.

    Args:
        capacity: number of stored samples.
        seed: the reservoir's and the sampler's random stream (kept in ``state_dict``-free python
            state; two buffers with the same seed and inputs hold the same samples).
    """

    citation = ("Vitter, Random Sampling with a Reservoir, ACM TOMS 1985; Cappellazzo et al., Continual "
                "Contrastive Spoken Language Understanding, Findings of ACL 2024 (COCONUT)")

    def __init__(self, capacity: int, seed: int = 0) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.seed = int(capacity), int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.seen = 0
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.y is None else int(self.y.numel())

    @torch.no_grad()
    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y need the same rows, got {x.shape[0]} and {y.shape[0]}")
        for i in range(x.shape[0]):
            self.seen += 1
            if len(self) < self.capacity:
                xi, yi = x[i:i + 1].detach().clone(), y[i:i + 1].detach().clone()
                self.x = xi if self.x is None else torch.cat([self.x, xi])
                self.y = yi if self.y is None else torch.cat([self.y, yi])
                continue
            j = int(torch.randint(self.seen, (1,), generator=self.generator))
            if j < self.capacity:
                self.x[j], self.y[j] = x[i].detach(), y[i].detach()

    def items(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.x is None:
            raise ValueError("the rehearsal buffer is empty")
        return self.x, self.y

    def sample(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.items()
        idx = torch.randperm(len(self), generator=self.generator)[:k]
        return x[idx], y[idx]

    def get_config_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "seed": self.seed}
