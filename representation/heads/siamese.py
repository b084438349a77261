"""DSE siamese combination head (Barkan et al., AAAI 2020).

Two sentence/image embeddings u, v [N, d] are combined into ``[u, v, u ⊙ v, |u − v|]`` [N, 4d]
and classified by an MLP (or a single linear layer). The student is a bi-encoder: u and v are
computed independently, so they can be cached; only this small head sees both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

DSE_CITATION = (
    "Barkan, Razin, Malkiel, Katz, Caciularu, Koenigstein. Scalable Attentive Sentence-Pair Modeling "
    "via Distilled Sentence Embedding. AAAI 2020."
)


def siamese_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``[u, v, u ⊙ v, |u − v|]``: u, v [..., d] -> [..., 4d]."""
    if u.shape != v.shape:
        raise ValueError(f"u {tuple(u.shape)} and v {tuple(v.shape)} must have the same shape")
    return torch.cat([u, v, u * v, (u - v).abs()], dim=-1)


@register("siamese_combine_head", kind="head")
class SiameseCombineHead(nn.Module):
    """Classifier over :func:`siamese_features`.

    Args:
        dim: embedding width d of u and v (the head's input width is 4d).
        num_outputs: number of logits (classes, or 1 for a relevance score).
        hidden: hidden width of a one-hidden-layer MLP; ``None`` gives a linear head.

    Forward: u, v [N, d] -> logits [N, num_outputs].
    """

    citation = DSE_CITATION

    def __init__(self, dim: int, num_outputs: int, hidden: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.num_outputs, self.hidden, self.dropout = dim, num_outputs, hidden, dropout
        in_dim = 4 * dim
        if hidden is None:
            self.net: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_outputs))
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.Tanh(),
                                     nn.Dropout(dropout), nn.Linear(hidden, num_outputs))

    @property
    def in_features(self) -> int:
        """Input width of the first layer (4d)."""
        return 4 * self.dim

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.net(siamese_features(u, v))

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "num_outputs": self.num_outputs, "hidden": self.hidden, "dropout": self.dropout}
