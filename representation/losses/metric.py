"""Metric-learning losses on labels (pytorch-metric-learning style), on the shared gather and the
DDP-exact mean: triplet margin, multi-similarity and circle loss.

Each loss scores this rank's embeddings (rows) against all ranks' embeddings (keys, gathered
with ``GatherSpec``) plus optional ``memory`` columns (a cross-batch memory, replicated on every
rank; :class:`representation.memory.CrossBatchMemory`). Candidates: positives share the label
(the anchor itself excluded), negatives have another label. A ``miner`` (see
:mod:`representation.miners.metric`) restricts them. Embeddings are L2-normalised; distances are
``"euclidean"`` (on the unit sphere, pytorch-metric-learning's default) or ``"cosine"`` (1 - cos).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec, gather
from representation.distributed.reduce import masked_mean, rank_mean
from representation.functional.circle import circle_loss_rows
from representation.functional.soft_ce import masked_logsumexp
from representation.losses.base import LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.miners.metric import PML_CITATION, PairMasks
from representation.registry import register, resolve

_LABELS = GatherSpec(local_loss=False, with_grad=False)


def metric_setup(embeddings: torch.Tensor, labels: torch.Tensor, spec: GatherSpec,
                 memory: torch.Tensor | None = None, memory_labels: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(cosine similarities [R, M], positive mask, negative mask, row labels) of the scored rows
    against all gathered embeddings (+ memory)."""
    z = F.normalize(embeddings, dim=-1)
    rows, keys, layout, _ = gather_rows_and_keys(z, None, spec)
    key_labels = gather(labels, _LABELS, sizes=layout.sizes).tensor
    index = global_rows(layout, spec, z.device)
    row_labels = key_labels[index]
    if memory is not None:
        if memory_labels is None or memory_labels.shape[0] != memory.shape[0]:
            raise ValueError("memory [Q, D] needs memory_labels [Q]")
        keys = torch.cat([keys, F.normalize(memory.detach().to(z.dtype), dim=-1)], dim=0)
        key_labels = torch.cat([key_labels, memory_labels.to(key_labels.device, key_labels.dtype)])
    sim = rows @ keys.T
    same = row_labels.unsqueeze(1) == key_labels.unsqueeze(0)
    not_self = torch.ones_like(same)
    not_self[torch.arange(index.numel(), device=z.device), index] = False
    return sim, same & not_self, ~same, row_labels


def _distance(sim: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "cosine":
        return 1.0 - sim
    if kind == "euclidean":
        return (2.0 - 2.0 * sim).clamp_min(0.0).add(1e-12).sqrt()
    raise ValueError(f"distance must be 'euclidean' or 'cosine', got {kind!r}")


class _MetricLoss(LossBase):
    """Shared constructor bits: an optional miner (instance or config) and the gather spec."""

    def __init__(self, miner: Any = None, gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        self.miner = resolve(miner)
        self.gather = GatherSpec.coerce(gather)

    def _mine(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor | None]:
        if self.miner is None:
            return pos, neg, None
        mined = self.miner(d.detach(), pos, neg)
        if isinstance(mined, PairMasks):
            return pos & mined.pos, neg & mined.neg, None
        return pos, neg, mined


@register("triplet_margin", kind="loss")
class TripletMarginLoss(_MetricLoss):
    """Triplet margin loss ``max(0, d_ap - d_an + margin)`` over all (anchor, positive, negative)
    triplets of the (gathered) batch, or the mined ones.

    Args:
        margin: the margin (pytorch-metric-learning default 0.05 on unit-sphere distances).
        distance: ``"euclidean"`` or ``"cosine"``.
        reduction: ``"nonzero"`` (mean over triplets with a positive loss, PML's AvgNonZeroReducer)
            or ``"mean"`` (over all valid triplets); counts are over all ranks.
        miner: a miner or its config (:mod:`representation.miners.metric`).

    ``forward(embeddings [n, D], labels [n], *, memory=None, memory_labels=None, return_dict=False)``.
    Memory O(n·M²) (all triplets of each anchor); use ``BatchHardMiner`` for large batches.
    """

    name = "triplet"
    citation = ("Schroff, Kalenichenko and Philbin, FaceNet, CVPR 2015; Weinberger and Saul, JMLR 2009; "
                f"{PML_CITATION}")
    config_keys = ("margin", "distance", "reduction", "miner", "gather")

    def __init__(self, margin: float = 0.05, distance: str = "euclidean",
                 reduction: str = "nonzero", miner: Any = None, gather: GatherSpec | dict[str, bool] | None = None
                 ) -> None:
        super().__init__(miner, gather)
        _distance(torch.zeros(1), distance)
        if reduction not in ("nonzero", "mean"):
            raise ValueError(f"reduction must be 'nonzero' or 'mean', got {reduction!r}")
        self.margin, self.distance, self.reduction = float(margin), distance, reduction

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, *, memory: torch.Tensor | None = None,
                memory_labels: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        sim, pos, neg, _ = metric_setup(embeddings, labels, self.gather, memory, memory_labels)
        d = _distance(sim, self.distance)
        pos, neg, triplets = self._mine(d, pos, neg)
        valid = pos.unsqueeze(2) & neg.unsqueeze(1)  # [R, p, n]
        if triplets is not None:
            valid = valid & triplets
        per = F.relu(d.unsqueeze(2) - d.unsqueeze(1) + self.margin)  # [R, p, n]: d_ap - d_an + margin
        per = torch.where(valid, per, torch.zeros_like(per))
        count = (per > 0).sum() if self.reduction == "nonzero" else valid.sum()
        loss = rank_mean(per.sum(), count, self.gather)
        return self.output(loss, return_dict, triplets=valid.sum(), active=(per > 0).sum())


@register("multi_similarity", kind="loss")
class MultiSimilarityLoss(_MetricLoss):
    """Multi-similarity loss (Wang et al., CVPR 2019) on cosine similarities:
    ``L_a = 1/α log(1 + Σ_P e^{-α(s_ap - λ)}) + 1/β log(1 + Σ_N e^{β(s_an - λ)})``, averaged over
    the anchors with at least one pair (all ranks). Defaults α=2, β=50, λ=0.5 (the paper's).
    Pair it with :class:`~representation.miners.metric.MultiSimilarityMiner` as in the paper."""

    name = "multi_similarity"
    citation = ("Wang et al., Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning, "
                "CVPR 2019")
    config_keys = ("alpha", "beta", "base", "miner", "gather")

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, miner: Any = None,
                 gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__(miner, gather)
        self.alpha, self.beta, self.base = float(alpha), float(beta), float(base)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, *, memory: torch.Tensor | None = None,
                memory_labels: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        sim, pos, neg, _ = metric_setup(embeddings, labels, self.gather, memory, memory_labels)
        pos, neg, _ = self._mine(1.0 - sim, pos, neg)
        zero = torch.zeros(sim.shape[0], 1, dtype=sim.dtype, device=sim.device)
        one = torch.ones_like(zero, dtype=torch.bool)
        lp = masked_logsumexp(torch.cat([zero, -self.alpha * (sim - self.base)], 1), torch.cat([one, pos], 1))
        ln = masked_logsumexp(torch.cat([zero, self.beta * (sim - self.base)], 1), torch.cat([one, neg], 1))
        rows = lp / self.alpha + ln / self.beta
        counted = pos.any(dim=1) | neg.any(dim=1)
        return self.output(masked_mean(rows, counted, self.gather), return_dict)


@register("circle", kind="loss")
class CircleLoss(_MetricLoss):
    """Circle loss (Sun et al., CVPR 2020) on cosine similarities with label positives
    (:func:`representation.functional.circle.circle_loss_rows`); pytorch-metric-learning's defaults
    ``m = 0.4``, ``gamma = 80``. Mean over anchors with a positive (all ranks)."""

    name = "circle"
    citation = "Sun et al., Circle Loss: A Unified Perspective of Pair Similarity Optimization, CVPR 2020"
    config_keys = ("margin", "gamma", "miner", "gather")

    def __init__(self, margin: float = 0.4, gamma: float = 80.0, miner: Any = None,
                 gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__(miner, gather)
        self.margin, self.gamma = float(margin), float(gamma)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, *, memory: torch.Tensor | None = None,
                memory_labels: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        sim, pos, neg, _ = metric_setup(embeddings, labels, self.gather, memory, memory_labels)
        pos, neg, _ = self._mine(1.0 - sim, pos, neg)
        rows, counted = circle_loss_rows(sim, pos, neg, self.margin, self.gamma)
        return self.output(masked_mean(rows, counted, self.gather), return_dict)
