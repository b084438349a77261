"""Naive python-loop reference implementations used by the tests (slow, float64-friendly).

They are deliberately written from the formulas with explicit loops and no vectorised
library calls beyond scalar math, so they can check the vectorised code.
"""

from __future__ import annotations

import math

import torch


def naive_cosine(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """[N, M] cosine similarities by loops."""
    out = torch.zeros(q.shape[0], k.shape[0], dtype=q.dtype)
    for i in range(q.shape[0]):
        for j in range(k.shape[0]):
            dot = sum(float(q[i, d]) * float(k[j, d]) for d in range(q.shape[1]))
            nq = math.sqrt(sum(float(q[i, d]) ** 2 for d in range(q.shape[1])))
            nk = math.sqrt(sum(float(k[j, d]) ** 2 for d in range(k.shape[1])))
            out[i, j] = dot / max(nq * nk, 1e-300)
    return out


def naive_soft_ce_rows(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
                       ) -> list[float | None]:
    """Per-row -sum_j t_ij/sum(t_i) * log softmax over valid columns; None for rows without mass."""
    out: list[float | None] = []
    for i in range(logits.shape[0]):
        valid = [j for j in range(logits.shape[1]) if mask is None or bool(mask[i, j])]
        mass = sum(float(targets[i, j]) for j in valid)
        if not valid or mass <= 0:
            out.append(None)
            continue
        mx = max(float(logits[i, j]) for j in valid)
        lse = mx + math.log(sum(math.exp(float(logits[i, j]) - mx) for j in valid))
        out.append(-sum(float(targets[i, j]) / mass * (float(logits[i, j]) - lse)
                        for j in valid if float(targets[i, j]) > 0))
    return out


def naive_mean(rows: list[float | None]) -> float:
    vals = [r for r in rows if r is not None]
    return sum(vals) / max(len(vals), 1)


def naive_info_nce(q: torch.Tensor, k: torch.Tensor, scale: float, *, targets: torch.Tensor | None = None,
                   mask: torch.Tensor | None = None, negatives: torch.Tensor | None = None,
                   symmetric: bool = False) -> float:
    """InfoNCE from the definition with cosine similarity (see functional.info_nce)."""
    n = q.shape[0]
    cols = k if negatives is None else torch.cat([k, negatives], dim=0)
    if targets is None:
        targets = torch.zeros(n, cols.shape[0], dtype=torch.float64)
        for i in range(n):
            targets[i, i] = 1.0
    logits = naive_cosine(q, cols) * scale
    loss = naive_mean(naive_soft_ce_rows(logits, targets, mask))
    if not symmetric:
        return loss
    logits_t = naive_cosine(k, q) * scale
    t_t = torch.zeros(n, n, dtype=torch.float64)
    m_t = None if mask is None else torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            t_t[i, j] = targets[j, i]
            if m_t is not None and mask is not None:
                m_t[i, j] = mask[j, i]
    return 0.5 * (loss + naive_mean(naive_soft_ce_rows(logits_t, t_t, m_t)))


def naive_haversine_km(lat1: float, lon1: float, lat2: float, lon2: float, radius_km: float = 6371.0088
                       ) -> float:
    """Haversine distance (km) from the textbook formula with arcsin."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius_km * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def naive_sigmoid_pairwise_sum(q: torch.Tensor, k: torch.Tensor, scale: float, bias: float,
                               targets: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                               pos_offset: int = 0) -> float:
    """SigLIP sum over pairs of -[t log sigmoid(x) + (1 - t) log sigmoid(-x)], x = scale <q_i, k_j> + bias."""
    total = 0.0
    for i in range(q.shape[0]):
        for j in range(k.shape[0]):
            if mask is not None and not bool(mask[i, j]):
                continue
            x = scale * sum(float(q[i, d]) * float(k[j, d]) for d in range(q.shape[1])) + bias
            t = float(targets[i, j]) if targets is not None else float(j == i + pos_offset)
            log_sig = -math.log1p(math.exp(-x)) if x > 0 else x - math.log1p(math.exp(x))
            log_sig_neg = -math.log1p(math.exp(x)) if x < 0 else -x - math.log1p(math.exp(-x))
            total -= t * log_sig + (1 - t) * log_sig_neg
    return total
