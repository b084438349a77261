"""Hydra / SimLAP class-pair gate (Wu et al. 2024): a soft feature subspace per class pair.

``g(y1, y2) = σ(MLP((E[y1] + E[y2]) / 2))`` ∈ (0, 1)^D, with a learned label embedding E. The
gated, renormalised features ``normalize(z ⊙ g)`` live in the subspace where classes y1 and y2
are allowed to look alike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

HYDRA_CITATION = (
    "Wu, Atito, Feng, Mo, Kittler, Awais. Rethinking Positive Pairs in Contrastive Learning. "
    "arXiv:2410.18200, 2024."
)


class GateFilter(nn.Module):
    """Per-pair feature gate.

    Args:
        num_classes: size of the label embedding table.
        dim: feature width D (gate width).
        embed_dim: label-embedding width.
        hidden: MLP hidden width.
        open_gate: if True the gate is identically 1 (no parameters used): the SupCon baseline.

    ``forward(y1 [N] long, y2 [N] long or None) -> gate [N, D]`` in (0, 1) (exactly 1 if open).
    """

    citation = HYDRA_CITATION

    def __init__(self, num_classes: int, dim: int, embed_dim: int = 64, hidden: int = 128,
                 open_gate: bool = False) -> None:
        super().__init__()
        self.num_classes, self.dim, self.embed_dim, self.hidden = num_classes, dim, embed_dim, hidden
        self.open_gate = open_gate
        self.label_embedding = nn.Embedding(num_classes, embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, y1: torch.Tensor, y2: torch.Tensor | None = None) -> torch.Tensor:
        if self.open_gate:
            return torch.ones(y1.shape[0], self.dim, device=y1.device, dtype=self.label_embedding.weight.dtype)
        e = self.label_embedding(y1)
        if y2 is not None:
            e = (e + self.label_embedding(y2)) / 2
        return torch.sigmoid(self.mlp(e))

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "dim": self.dim, "embed_dim": self.embed_dim,
                "hidden": self.hidden, "open_gate": self.open_gate}
