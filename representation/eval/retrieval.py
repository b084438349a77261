"""Retrieval metrics over a score matrix (higher = more similar).

Conventions: ``scores`` [N, M] (query x gallery), ``positives`` [N, M] bool. Queries with
no positive are left out of every mean (their count is returned as ``n_queries``). Ties
are broken by column index (stable sort), i.e. pessimism/optimism is not modelled.
"""

from __future__ import annotations

import torch


def _check(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    if scores.dim() != 2 or scores.shape != positives.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and positives {tuple(positives.shape)} must be equal [N, M]")
    return positives.to(torch.bool)


def ranked_positives(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """[N, M] bool: ``positives`` reordered by descending score per row (stable)."""
    positives = _check(scores, positives)
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return positives.gather(1, order)


def recall_at_k(scores: torch.Tensor, positives: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10)
                ) -> dict[str, float]:
    """Fraction of queries (with >= 1 positive) that have a positive among their top-k.

    Returns ``{"R@1": ..., "R@5": ..., "n_queries": N_valid}`` (k larger than M acts as M).
    """
    ranked = ranked_positives(scores, positives)
    valid = ranked.any(dim=1)
    out: dict[str, float] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        hit = ranked[:, :k].any(dim=1)
        out[f"R@{k}"] = float(hit[valid].float().mean()) if valid.any() else float("nan")
    out["n_queries"] = float(valid.sum())
    return out


def average_precision(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Per-query AP [N]: mean over the query's positives of precision at their rank; NaN
    for queries without positives."""
    ranked = ranked_positives(scores, positives).to(torch.float64)
    ranks = torch.arange(1, ranked.shape[1] + 1, dtype=torch.float64, device=ranked.device)
    precision = ranked.cumsum(dim=1) / ranks
    n_pos = ranked.sum(dim=1)
    ap = (precision * ranked).sum(dim=1) / n_pos.clamp_min(1)
    return torch.where(n_pos > 0, ap, torch.full_like(ap, float("nan")))


def mean_average_precision(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """mAP over queries with at least one positive (NaN if none)."""
    ap = average_precision(scores, positives)
    ok = ~torch.isnan(ap)
    return float(ap[ok].mean()) if ok.any() else float("nan")


def label_positives(labels_q: torch.Tensor, labels_g: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """[N, M] bool ``labels_q[i] == labels_g[j]``; ``exclude_self`` clears the diagonal
    (query set == gallery set)."""
    pos = labels_q.unsqueeze(1) == labels_g.unsqueeze(0)
    if exclude_self:
        if pos.shape[0] != pos.shape[1]:
            raise ValueError("exclude_self needs the query set to be the gallery set")
        pos.fill_diagonal_(False)
    return pos
