"""Classification heads on the fused embedding: the geocell classifier and PIGEON's
optional auxiliary tasks (country, admin-1, climate, month, ...), each a Linear D -> n."""

from __future__ import annotations

import torch
from torch import nn

GEOCELL = "geocell"


class ClassificationHeads(nn.Module):
    """One ``Linear(width, n)`` per task; forward returns ``{task: logits [B, n]}``.

    Args:
        dim: embedding width D.
        sizes: ``{task: number of classes}``; must include ``"geocell"``.
        dropout: dropout on the embedding before every head (0 = none).
        hidden: 0 = linear heads on the embedding; H > 0 = a shared ``Linear(D, H) -> GELU ->
            LayerNorm(H)`` block before them. Over a frozen tower this shared block is what the
            tasks train together (PIGEON's unfrozen last layer): without it, heads on a frozen
            embedding are independent and the auxiliary tasks cannot help the geocell head.
    """

    def __init__(self, dim: int, sizes: dict[str, int], dropout: float = 0.0, hidden: int = 0) -> None:
        super().__init__()
        if GEOCELL not in sizes:
            raise ValueError("sizes must include the 'geocell' head")
        for task, n in sizes.items():
            if int(n) < 1:
                raise ValueError(f"head {task!r} needs at least one class, got {n}")
        self.sizes = {k: int(v) for k, v in sizes.items()}
        if hidden < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.trunk = (nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.LayerNorm(hidden)) if hidden
                      else nn.Identity())
        width = hidden or dim
        self.heads = nn.ModuleDict({k: nn.Linear(width, n) for k, n in self.sizes.items()})

    def forward(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(self.dropout(embedding))
        return {task: head(h) for task, head in self.heads.items()}
