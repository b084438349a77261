"""Listwise ranking: LambdaMRR (UDR, Li et al., "Unified Demonstration Retriever for In-Context
Learning", ACL 2023; the LambdaLoss framework of Wang et al., CIKM 2018, with the MRR weights).

For a list of K candidates with predicted scores s and true relevance y (UDR: y = 1 / rank under
language-model feedback), sort the candidates by *predicted* score; every pair of predicted
positions (i, j) with y_i > y_j contributes

    |1/(i+1) - 1/(j+1)| * log(1 + exp(-(s_i - s_j)))

and the loss is the mean over those pairs (over the whole batch). Padded candidates (relevance
``pad_value``) take part in no pair. The loss is 0 only in the limit of infinitely separated
scores in the true order, and any swap of a relevant pair raises it.
"""

from __future__ import annotations

import torch


def lambda_mrr_pairs(scores: torch.Tensor, relevance: torch.Tensor, pad_value: float = -1.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of pair losses, number of pairs)`` for scores / relevance [B, K] (module docstring)."""
    if scores.shape != relevance.shape or scores.dim() != 2:
        raise ValueError(f"scores and relevance must both be [B, K], got {tuple(scores.shape)}, {tuple(relevance.shape)}")
    pad = relevance == pad_value
    dtype = torch.promote_types(scores.dtype, torch.float32)
    s = scores.to(dtype).masked_fill(pad, float("-inf"))
    order = s.argsort(dim=1, descending=True, stable=True)
    s_sorted = scores.to(dtype).gather(1, order)
    y_sorted = relevance.to(dtype).gather(1, order)
    p_sorted = pad.gather(1, order)
    valid = (y_sorted[:, :, None] > y_sorted[:, None, :]) & ~p_sorted[:, :, None] & ~p_sorted[:, None, :]
    inv = 1.0 / torch.arange(1, scores.shape[1] + 1, device=scores.device, dtype=dtype)
    weight = (inv[:, None] - inv[None, :]).abs()
    diff = (s_sorted[:, :, None] - s_sorted[:, None, :]).masked_fill(~valid, 0.0)
    pair = torch.nn.functional.softplus(-diff) * weight  # log(1 + exp(-diff)), stable
    return torch.where(valid, pair, torch.zeros_like(pair)).sum(), valid.sum()


def rank_relevance(num_candidates: int, lengths: torch.Tensor | None = None, pad_value: float = -1.0,
                   batch: int = 1) -> torch.Tensor:
    """UDR's relevance ``1 / rank`` [B, K] for lists already sorted best first; entries at or
    beyond ``lengths[b]`` are padding (``pad_value``)."""
    rel = 1.0 / torch.arange(1, num_candidates + 1, dtype=torch.float32)
    rel = rel.unsqueeze(0).repeat(batch if lengths is None else lengths.shape[0], 1)
    if lengths is not None:
        idx = torch.arange(num_candidates).unsqueeze(0)
        rel = rel.masked_fill(idx >= lengths.unsqueeze(1).cpu(), pad_value)
    return rel
