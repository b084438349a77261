"""k-nearest-neighbour evaluation of embeddings (weighted voting, Wu et al. 2018 / DINO):

``score_c(q) = Σ_{j in topk(q)} [y_j = c] · exp(cos(q, x_j) / T)`` (``weighting="exp"``) or
``Σ [y_j = c]`` (``"uniform"``); the prediction is the arg-max class. Under DDP pass the
gathered bank (``representation.distributed.gather_features``) or evaluate on one rank.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.registry import register


@torch.no_grad()
def knn_scores(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, *, k: int = 20,
               temperature: float = 0.07, num_classes: int | None = None, weighting: str = "exp",
               exclude_self: bool = False, chunk_size: int = 1024) -> torch.Tensor:
    """Class scores [Q, C] of the queries [Q, D] from the bank [N, D] with labels [N].

    ``exclude_self``: query i is bank item i (leave-one-out on the same set).
    """
    if weighting not in ("exp", "uniform"):
        raise ValueError(f"weighting must be 'exp' or 'uniform', got {weighting!r}")
    if bank.shape[0] != bank_labels.shape[0]:
        raise ValueError(f"bank [{bank.shape[0]}, D] and labels [{bank_labels.shape[0]}] differ")
    c = int(bank_labels.max()) + 1 if num_classes is None else num_classes
    k = min(k, bank.shape[0] - (1 if exclude_self else 0))
    qn, bn = F.normalize(query.float(), dim=-1), F.normalize(bank.float(), dim=-1)
    out = torch.zeros(query.shape[0], c, device=query.device)
    for s in range(0, query.shape[0], chunk_size):
        sim = qn[s:s + chunk_size] @ bn.T
        if exclude_self:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, rows + s] = float("-inf")
        top, idx = sim.topk(k, dim=1)
        w = torch.exp(top / temperature) if weighting == "exp" else torch.ones_like(top)
        out[s:s + chunk_size].scatter_add_(1, bank_labels.to(query.device)[idx].long(), w)
    return out


@torch.no_grad()
def knn_accuracy(query: torch.Tensor, query_labels: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                 *, k: int = 20, temperature: float = 0.07, topk: tuple[int, ...] = (1, 5),
                 weighting: str = "exp", exclude_self: bool = False) -> dict[str, float]:
    """``{"top1": ..., "top5": ...}`` accuracy of :func:`knn_scores` predictions."""
    c = int(max(int(bank_labels.max()), int(query_labels.max()))) + 1
    scores = knn_scores(query, bank, bank_labels, k=k, temperature=temperature, num_classes=c,
                        weighting=weighting, exclude_self=exclude_self)
    ranked = scores.argsort(dim=1, descending=True)
    hit = ranked == query_labels.to(ranked.device).long().unsqueeze(1)
    return {f"top{t}": float(hit[:, :t].any(dim=1).float().mean()) for t in topk}


@register("knn", kind="evaluator")
class KNNEvaluator:
    """``KNNEvaluator(k=20, temperature=0.07)(bank, bank_labels, query, query_labels) -> {"top1", "top5"}``."""

    citation = ("Wu et al., Unsupervised Feature Learning via Non-Parametric Instance Discrimination, CVPR 2018; "
                "Caron et al., Emerging Properties in Self-Supervised Vision Transformers (DINO), ICCV 2021")

    def __init__(self, k: int = 20, temperature: float = 0.07, weighting: str = "exp") -> None:
        self.k, self.temperature, self.weighting = int(k), float(temperature), weighting

    def __call__(self, bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor,
                 query_labels: torch.Tensor) -> dict[str, float]:
        return knn_accuracy(query, query_labels, bank, bank_labels, k=self.k, temperature=self.temperature,
                            weighting=self.weighting)

    def get_config_dict(self) -> dict[str, Any]:
        return {"k": self.k, "temperature": self.temperature, "weighting": self.weighting}
