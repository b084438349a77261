"""Metric-learning miners on dense masks (pytorch-metric-learning's miners without index tuples).

Every miner works on a distance matrix ``d`` [R, M] (smaller = closer; for cosine similarity
``d = 1 - cos``, for L2-normalised embeddings the Euclidean distance) and the candidate masks
``pos`` / ``neg`` [R, M] (same label without the anchor itself / different label). Pair miners
return a :class:`PairMasks` that restricts them; :class:`TripletMarginMiner` returns a dense
triplet mask [R, M, M] (anchor, positive, negative). The metric losses of
:mod:`representation.losses.metric` accept any of them as ``miner=`` and call it on the rows and
gathered keys they score, so mining under DDP sees the whole gathered batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from representation.registry import register

PML_CITATION = "Musgrave, Belongie and Lim, PyTorch Metric Learning, arXiv:2008.09164, 2020"


@dataclass
class PairMasks:
    """Mined pairs: ``pos`` [R, M] and ``neg`` [R, M] bool (a subset of the candidates)."""

    pos: torch.Tensor
    neg: torch.Tensor


def _check(d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> None:
    if d.shape != pos.shape or d.shape != neg.shape or d.dim() != 2:
        raise ValueError(f"d {tuple(d.shape)}, pos {tuple(pos.shape)} and neg {tuple(neg.shape)} must be [R, M]")


@register("batch_hard_miner", kind="miner")
class BatchHardMiner:
    """Batch-hard mining (Hermans et al. 2017): per anchor its farthest positive and its
    closest negative; anchors without either get none. ``miner(d, pos, neg) -> PairMasks``."""

    citation = "Hermans, Beyer and Leibe, In Defense of the Triplet Loss for Person Re-Identification, 2017"

    @torch.no_grad()
    def __call__(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> PairMasks:
        _check(d, pos, neg)
        rows = torch.arange(d.shape[0], device=d.device)
        hard_p = d.masked_fill(~pos, float("-inf")).argmax(dim=1)
        hard_n = d.masked_fill(~neg, float("inf")).argmin(dim=1)
        out_p = torch.zeros_like(pos)
        out_n = torch.zeros_like(neg)
        ok = pos.any(dim=1) & neg.any(dim=1)
        out_p[rows[ok], hard_p[ok]] = True
        out_n[rows[ok], hard_n[ok]] = True
        return PairMasks(out_p, out_n)

    def get_config_dict(self) -> dict[str, Any]:
        return {}


@register("multi_similarity_miner", kind="miner")
class MultiSimilarityMiner:
    """Multi-similarity pair mining (Wang et al., CVPR 2019): keep a negative if it is closer than
    the anchor's farthest positive plus ``epsilon``, a positive if it is farther than the
    anchor's closest negative minus ``epsilon`` (distances; with ``d = 1 - cos`` this is
    pytorch-metric-learning's ``MultiSimilarityMiner`` on cosine similarities).
    ``miner(d, pos, neg) -> PairMasks``."""

    citation = ("Wang et al., Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning, "
                f"CVPR 2019; {PML_CITATION}")

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = float(epsilon)

    @torch.no_grad()
    def __call__(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> PairMasks:
        _check(d, pos, neg)
        far_p = d.masked_fill(~pos, float("-inf")).max(dim=1, keepdim=True).values
        near_n = d.masked_fill(~neg, float("inf")).min(dim=1, keepdim=True).values
        return PairMasks(pos & (d > near_n - self.epsilon), neg & (d < far_p + self.epsilon))

    def get_config_dict(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}


TRIPLET_TYPES = ("all", "hard", "semihard", "easy")


@register("triplet_margin_miner", kind="miner")
class TripletMarginMiner:
    """Triplets by margin (pytorch-metric-learning's ``TripletMarginMiner``), with
    ``gap = d_an - d_ap``:

    * ``"all"``: gap <= margin (every triplet that violates the margin);
    * ``"hard"``: gap <= 0 (the negative is closer than the positive);
    * ``"semihard"``: 0 < gap <= margin;
    * ``"easy"``: gap > margin.

    ``miner(d, pos, neg) -> [R, M, M]`` bool triplet mask (memory O(R·M²)).
    """

    citation = PML_CITATION

    def __init__(self, margin: float = 0.2, type_of_triplets: str = "all") -> None:
        if type_of_triplets not in TRIPLET_TYPES:
            raise ValueError(f"type_of_triplets must be one of {TRIPLET_TYPES}, got {type_of_triplets!r}")
        self.margin, self.type_of_triplets = float(margin), type_of_triplets

    @torch.no_grad()
    def __call__(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        _check(d, pos, neg)
        gap = d.unsqueeze(1) - d.unsqueeze(2)  # [R, p, n] = d_an - d_ap
        valid = pos.unsqueeze(2) & neg.unsqueeze(1)
        if self.type_of_triplets == "all":
            keep = gap <= self.margin
        elif self.type_of_triplets == "hard":
            keep = gap <= 0
        elif self.type_of_triplets == "semihard":
            keep = (gap > 0) & (gap <= self.margin)
        else:
            keep = gap > self.margin
        return valid & keep

    def get_config_dict(self) -> dict[str, Any]:
        return {"margin": self.margin, "type_of_triplets": self.type_of_triplets}
