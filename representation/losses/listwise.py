"""UDR's retriever loss (Li et al., "Unified Demonstration Retriever for In-Context Learning",
ACL 2023; reference ``KaiLv69/UDR`` ``DPR/dpr/models/biencoder.py``):

    L = rank_weight * LambdaMRR(scores of each query's own K candidates, relevance 1 / rank)
        + CE(query vs all B*K candidates of the batch, positive = the query's top candidate)

Candidates come sorted best first by language-model feedback (:mod:`representation.miners.lm_feedback`);
scores are dot products (the reference's). The in-batch term is the library's contrastive engine
with one extra column block per query (``targets`` one-hot at the global column of the query's
first candidate), so it gathers candidates across ranks like every InfoNCE loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed.gather import GatherSpec, gather, gather_sizes
from representation.distributed.reduce import rank_mean
from representation.functional.ranking import lambda_mrr_pairs, rank_relevance
from representation.losses.engine import contrastive_loss
from representation.registry import register


@register("listwise_rank", kind="loss")
class ListwiseRankLoss(nn.Module):
    """``forward(q [B, D], candidates [B, K, D], *, lengths [B] | None, relevance [B, K] | None,
    return_dict)``.

    Args:
        rank_weight: the weight of LambdaMRR (UDR's ``rank_loss_factor``).
        in_batch: add the in-batch cross-entropy term.
        scale: multiplies the dot products of the in-batch term (1: the reference).
        gather: how the in-batch term gathers candidates (library GatherSpec).

    ``lengths`` marks padded candidates (positions ``>= lengths[b]``), which take part in no
    ranking pair and are masked out of the in-batch softmax; ``relevance`` overrides UDR's
    ``1 / rank`` (e.g. ``-km error``; entries equal to -1 are padding unless ``pad_value`` says otherwise).
    """

    name = "listwise"
    citation = "Li et al., Unified Demonstration Retriever for In-Context Learning, ACL 2023"
    config_keys = ("rank_weight", "in_batch", "scale", "pad_value", "gather")

    def __init__(self, rank_weight: float = 1.0, in_batch: bool = True, scale: float = 1.0, pad_value: float = -1.0,
                 gather: GatherSpec | dict | None = None) -> None:
        super().__init__()
        self.rank_weight, self.in_batch, self.scale = float(rank_weight), bool(in_batch), float(scale)
        self.pad_value = float(pad_value)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, q: torch.Tensor, candidates: torch.Tensor, *, lengths: torch.Tensor | None = None,
                relevance: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if q.dim() != 2 or candidates.dim() != 3 or candidates.shape[0] != q.shape[0] or candidates.shape[2] != q.shape[1]:
            raise ValueError(f"need q [B, D] and candidates [B, K, D], got {tuple(q.shape)}, {tuple(candidates.shape)}")
        b, k, _d = candidates.shape
        if relevance is None:
            relevance = rank_relevance(k, lengths, self.pad_value, batch=b).to(q.device)
        elif lengths is not None:
            idx = torch.arange(k, device=q.device).unsqueeze(0)
            relevance = relevance.masked_fill(idx >= lengths.to(q.device).unsqueeze(1), self.pad_value)
        scores = torch.einsum("bd,bkd->bk", q, candidates)
        total, pairs = lambda_mrr_pairs(scores, relevance, self.pad_value)
        rank_loss = rank_mean(total, pairs, GatherSpec())  # local terms: always all-reduced
        out = {f"{self.name}_loss": self.rank_weight * rank_loss}
        logs: dict[str, Any] = {"lambda_mrr": rank_loss.detach()}
        if self.in_batch:
            ce = self.in_batch_loss(q, candidates, relevance != self.pad_value)
            out["inbatch_loss"] = ce
            logs["inbatch"] = ce.detach()
        if not return_dict:
            return sum(out.values())
        out["logs"] = logs
        return out

    def in_batch_loss(self, q: torch.Tensor, candidates: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """CE of every query against all gathered candidates [N * K], positive = its first one."""
        b, k, d = candidates.shape
        n_total = sum(gather_sizes(b, device=q.device)[0])
        n_cols = n_total * k

        def targets(rows: torch.Tensor) -> torch.Tensor:
            t = torch.zeros(rows.shape[0], n_cols, device=q.device, dtype=q.dtype)
            t[torch.arange(rows.shape[0], device=q.device), rows.to(q.device) * k] = 1.0
            return t

        mask = None
        if not bool(valid.all()):
            all_valid = gather(valid.reshape(-1), self.gather).tensor

            def mask(rows: torch.Tensor) -> torch.Tensor:
                return all_valid.unsqueeze(0).expand(rows.shape[0], -1)

        ce, _ = contrastive_loss(q, candidates.reshape(b * k, d), scale=self.scale, targets=targets, mask=mask,
                                 spec=self.gather)
        return ce

    def get_config_dict(self) -> dict[str, Any]:
        from representation.registry import config_value

        return {"rank_weight": self.rank_weight, "in_batch": self.in_batch, "scale": self.scale,
                "pad_value": self.pad_value, "gather": config_value(self.gather)}
