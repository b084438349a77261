"""Hydra / SimLAP class-pair gate (Wu et al. 2024): a soft feature subspace per class pair.

``g(y1, y2) = σ(MLP((E[y1] + E[y2]) / 2))`` ∈ (0, 1)^D, with a learned label embedding E.

``style="reference"`` (default) is the reference's ``BasicGate`` (``erow/vitookit``
``simlap.py``): ``MLP = ReLU, BatchNorm1d, Linear, ReLU, BatchNorm1d, Linear`` on 512-d label
embeddings with a 1024-d hidden layer. Its BatchNorm normalises over the batch of class pairs,
so under DDP each rank normalises its own pairs (as upstream): use ``style="mlp"`` (Linear,
GELU, Linear; no BatchNorm) when DDP must equal full-batch training exactly, or convert the
module with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` on GPUs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

HYDRA_CITATION = (
    "Wu, Atito, Feng, Mo, Kittler, Awais. Rethinking Positive Pairs in Contrastive Learning. "
    "arXiv:2410.18200, 2024."
)


@register("gate_filter", kind="head")
class GateFilter(nn.Module):
    """Per-pair feature gate.

    Args:
        num_classes: size of the label embedding table.
        dim: feature width D (gate width).
        embed_dim: label-embedding width (reference 512).
        hidden: MLP hidden width (reference 1024).
        open_gate: if True the gate is identically 1 (no parameters used): the SupCon baseline.
        style: ``"reference"`` (ReLU + BatchNorm MLP, as upstream) or ``"mlp"`` (GELU, no BatchNorm).

    ``forward(y1 [N] long, y2 [N] long or None) -> gate [N, D]`` in (0, 1) (exactly 1 if open).
    """

    citation = HYDRA_CITATION

    def __init__(self, num_classes: int, dim: int, embed_dim: int = 512, hidden: int = 1024,
                 open_gate: bool = False, style: str = "reference") -> None:
        super().__init__()
        if style not in ("reference", "mlp"):
            raise ValueError(f"style must be 'reference' or 'mlp', got {style!r}")
        self.num_classes, self.dim, self.embed_dim, self.hidden = num_classes, dim, embed_dim, hidden
        self.open_gate, self.style = open_gate, style
        self.label_embedding = nn.Embedding(num_classes, embed_dim)
        if style == "reference":
            self.mlp = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(embed_dim), nn.Linear(embed_dim, hidden),
                                     nn.ReLU(), nn.BatchNorm1d(hidden), nn.Linear(hidden, dim))
        else:
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
                "hidden": self.hidden, "open_gate": self.open_gate, "style": self.style}
