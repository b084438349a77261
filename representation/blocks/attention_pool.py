"""CoLLAP's text-conditioned attention pooling of segment-text similarities (Wu et al., "CoLLAP:
Contrastive Long-form Language-Audio Pretraining with Musical Temporal Structure Augmentation",
arXiv:2410.02271, 2024).

A long item is split into S segments (audio clips; for geolocation, the views of a location)
with embeddings a_is; a text (or any query: a class prototype) has embedding t_j. The fusion score is

    e_ijs = <W_q t_j, W_k a_is> / sqrt(d),   α_ijs = softmax_s(e_ijs) (valid segments only),
    S_ij  = Σ_s α_ijs cos(a_is, t_j)

so each text weighs the segments that it describes. Uniform attention (``attention="uniform"``,
or W_q = 0) gives the mean segment similarity; one segment gives cos(a_i, t_j), CLIP's logit.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register

COLLAP_CITATION = ("Wu et al., CoLLAP: Contrastive Long-form Language-Audio Pretraining with Musical "
                   "Temporal Structure Augmentation, arXiv:2410.02271, 2024")


def attention_pooled_similarity(segments: torch.Tensor, queries: torch.Tensor, attn_logits: torch.Tensor | None,
                                segment_mask: torch.Tensor | None = None) -> torch.Tensor:
    """S [N, M] from segments [N, S, D], queries [M, D] and attention logits [N, M, S] (None: uniform).

    ``segment_mask`` [N, S] bool marks the valid segments (each row needs one)."""
    cos = torch.einsum("nsd,md->nms", F.normalize(segments, dim=-1), F.normalize(queries, dim=-1))
    if attn_logits is None:
        attn_logits = torch.zeros_like(cos)
    if segment_mask is not None:
        if not bool(segment_mask.any(dim=1).all()):
            raise ValueError("every item needs at least one valid segment")
        attn_logits = attn_logits.masked_fill(~segment_mask.to(torch.bool).unsqueeze(1), float("-inf"))
    alpha = torch.softmax(attn_logits, dim=-1)
    return (alpha * cos).sum(dim=-1)


@register("attention_pooled_similarity", kind="block")
class AttentionPooledSimilarity(nn.Module):
    """``forward(segments [N, S, D], queries [M, D], segment_mask=None) -> [N, M]`` fusion scores
    in [-1, 1]; ``weights(...) -> α [N, M, S]``.

    Args:
        dim: D; attn_dim: d of the query / key projections.
        attention: "learned" (projections W_q, W_k) or "uniform" (mean similarity, no parameters).
    """

    citation = COLLAP_CITATION

    def __init__(self, dim: int, attn_dim: int = 64, attention: str = "learned") -> None:
        super().__init__()
        if attention not in ("learned", "uniform"):
            raise ValueError(f"attention must be 'learned' or 'uniform', got {attention!r}")
        self.dim, self.attn_dim, self.attention = int(dim), int(attn_dim), attention
        if attention == "learned":
            self.w_q = nn.Linear(dim, attn_dim, bias=False)
            self.w_k = nn.Linear(dim, attn_dim, bias=False)

    def attention_logits(self, segments: torch.Tensor, queries: torch.Tensor) -> torch.Tensor | None:
        if self.attention == "uniform":
            return None
        return torch.einsum("md,nsd->nms", self.w_q(queries), self.w_k(segments)) / math.sqrt(self.attn_dim)

    def weights(self, segments: torch.Tensor, queries: torch.Tensor,
                segment_mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.attention_logits(segments, queries)
        if logits is None:
            logits = segments.new_zeros(segments.shape[0], queries.shape[0], segments.shape[1])
        if segment_mask is not None:
            logits = logits.masked_fill(~segment_mask.to(torch.bool).unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1)

    def forward(self, segments: torch.Tensor, queries: torch.Tensor,
                segment_mask: torch.Tensor | None = None) -> torch.Tensor:
        if segments.dim() != 3 or queries.dim() != 2 or segments.shape[-1] != queries.shape[-1]:
            raise ValueError(f"segments must be [N, S, D] and queries [M, D], got {tuple(segments.shape)} and "
                             f"{tuple(queries.shape)}")
        return attention_pooled_similarity(segments, queries, self.attention_logits(segments, queries), segment_mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "attn_dim": self.attn_dim, "attention": self.attention}
