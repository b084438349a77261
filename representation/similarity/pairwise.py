"""Pairwise similarity matrices.

All functions take ``q`` [N, D] and ``k`` [M, D] and return [N, M] in the dtype of the
inputs. Cosine similarity normalises each row to unit L2 norm first (rows of norm below
``eps`` are divided by ``eps``, so a zero vector has similarity 0 to everything).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register


def _check(q: torch.Tensor, k: torch.Tensor) -> None:
    if q.dim() != 2 or k.dim() != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"expected q [N, D] and k [M, D], got {tuple(q.shape)} and {tuple(k.shape)}")


def pairwise_dot(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Dot products ``q @ k.T`` -> [N, M]."""
    _check(q, k)
    return q @ k.T


def pairwise_cosine(q: torch.Tensor, k: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarities in [-1, 1] -> [N, M]."""
    _check(q, k)
    return F.normalize(q, dim=1, eps=eps) @ F.normalize(k, dim=1, eps=eps).T


def pairwise_similarity(q: torch.Tensor, k: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """``kind`` in {"cosine", "dot"} -> [N, M]."""
    if kind == "cosine":
        return pairwise_cosine(q, k)
    if kind == "dot":
        return pairwise_dot(q, k)
    raise ValueError(f"unknown similarity {kind!r} (use 'cosine' or 'dot')")


@register("cosine", kind="similarity")
class CosineSimilarity(nn.Module):
    """Module form of :func:`pairwise_cosine`: ``sim(q [N, D], k [M, D]) -> [N, M]``."""

    citation = ""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return pairwise_cosine(q, k, self.eps)

    def get_config_dict(self) -> dict[str, Any]:
        return {"eps": self.eps}


@register("dot", kind="similarity")
class DotSimilarity(nn.Module):
    """Module form of :func:`pairwise_dot`: ``sim(q [N, D], k [M, D]) -> [N, M]``."""

    citation = ""

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return pairwise_dot(q, k)

    def get_config_dict(self) -> dict[str, Any]:
        return {}
