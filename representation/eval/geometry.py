"""Geometry of an embedding space.

* alignment and uniformity (Wang and Isola, "Understanding Contrastive Representation
  Learning through Alignment and Uniformity on the Hypersphere", ICML 2020), computed on
  L2-normalised features;
* isotropy = 1 - mean off-diagonal cosine similarity (Su et al., "A Contrastive Framework
  for Neural Text Generation", NeurIPS 2022): about 1 for isotropic (e.g. Gaussian) vectors,
  0 when all vectors point the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> float:
    """``mean_i ||x_i - y_i||_2^alpha`` over positive pairs (rows) of normalised x [N, D], y [N, D].

    0 for identical views; at most ``2^alpha``."""
    if x.shape != y.shape:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} differ")
    x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    return float((x - y).norm(dim=1).pow(alpha).mean())


def uniformity(x: torch.Tensor, t: float = 2.0) -> float:
    """``log mean_{i<j} exp(-t ||x_i - x_j||^2)`` of normalised x [N, D] (N >= 2); lower = more uniform."""
    if x.shape[0] < 2:
        raise ValueError("uniformity needs at least 2 vectors")
    x = F.normalize(x, dim=1)
    sq = torch.pdist(x, p=2).pow(2)
    return float(torch.logsumexp(-t * sq, dim=0) - torch.log(torch.tensor(float(sq.numel()), dtype=sq.dtype)))


def isotropy(x: torch.Tensor) -> float:
    """``1 - mean_{i != j} cos(x_i, x_j)`` for x [N, D] (N >= 2)."""
    n = x.shape[0]
    if n < 2:
        raise ValueError("isotropy needs at least 2 vectors")
    x = F.normalize(x, dim=1)
    s = x.sum(dim=0)
    off_diag_sum = s.dot(s) - (x * x).sum()  # sum_{i != j} <x_i, x_j> in O(N D)
    return float(1.0 - off_diag_sum / (n * (n - 1)))
