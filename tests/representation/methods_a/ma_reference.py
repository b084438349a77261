"""Naive python-loop reference implementations for the methods-A tests (float64, slow, obvious)."""

from __future__ import annotations

import math

import torch


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a @ b) / (a.norm() * b.norm()))


def naive_supcon(z: torch.Tensor, labels: list, tau: float) -> float:
    """Khosla et al. eq. 2 ("L_out") over rows of z [M, D] (already flattened views).
    Anchors without positives are skipped; mean over the remaining anchors."""
    m = z.shape[0]
    total, count = 0.0, 0
    for i in range(m):
        denom = sum(math.exp(float(z[i] @ z[a]) / tau) for a in range(m) if a != i)
        pos = [p for p in range(m) if p != i and labels[p] == labels[i]]
        if not pos:
            continue
        li = -sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denom) for p in pos) / len(pos)
        total += li
        count += 1
    return total / count


def naive_weighted_supcon(z: torch.Tensor, weights: list[list[float]], tau: float) -> float:
    """Graded SupCon: -sum_p (w_ip / sum_q w_iq) log softmax over all a != i."""
    m = z.shape[0]
    total, count = 0.0, 0
    for i in range(m):
        denom = sum(math.exp(float(z[i] @ z[a]) / tau) for a in range(m) if a != i)
        wsum = sum(weights[i][p] for p in range(m) if p != i)
        if wsum == 0:
            continue
        li = 0.0
        for p in range(m):
            if p != i and weights[i][p] > 0:
                li -= weights[i][p] / wsum * math.log(math.exp(float(z[i] @ z[p]) / tau) / denom)
        total += li
        count += 1
    return total / count


def naive_soft_ce(logits: list[list[float]], targets: list[list[float]], valid=None) -> float:
    """Mean over rows with target mass of -sum_j t_ij/sum t log softmax_j (valid columns only)."""
    total, count = 0.0, 0
    for i, row in enumerate(logits):
        cols = [j for j in range(len(row)) if valid is None or valid[i][j]]
        tsum = sum(targets[i][j] for j in cols)
        if tsum == 0:
            continue
        lse = math.log(sum(math.exp(row[j]) for j in cols))
        total += -sum(targets[i][j] / tsum * (row[j] - lse) for j in cols if targets[i][j] > 0)
        count += 1
    return total / count


def naive_clip(a: torch.Tensor, b: torch.Tensor, scale: float, smoothing: float = 0.0) -> float:
    """Symmetric CLIP loss with torch-style label smoothing, by loops."""
    n = a.shape[0]

    def direction(x, y):
        tot = 0.0
        for i in range(n):
            row = [scale * float(x[i] @ y[j]) for j in range(n)]
            lse = math.log(sum(math.exp(v) for v in row))
            for j in range(n):
                t = (1 - smoothing) * (1.0 if i == j else 0.0) + smoothing / n
                tot -= t * (row[j] - lse)
        return tot / n

    return 0.5 * (direction(a, b) + direction(b, a))


def naive_jaccard_score(a, b) -> float:
    """SPACE-2 hierarchical set score written directly from the paper's description for
    items given as lists of paths: nodes per level, edges between consecutive levels and
    longer paths, each compared by Jaccard, averaged over set types with a non-empty union."""
    pa = [tuple(a)] if not isinstance(a[0], (list, tuple)) else [tuple(p) for p in a]
    pb = [tuple(b)] if not isinstance(b[0], (list, tuple)) else [tuple(p) for p in b]
    depth = max(len(p) for p in pa + pb)
    scores = []
    for start in range(depth):
        for stop in range(start + 1, depth + 1):
            sa = {p[start:stop] for p in pa if len(p) >= stop and None not in p[start:stop]}
            sb = {p[start:stop] for p in pb if len(p) >= stop and None not in p[start:stop]}
            union = sa | sb
            if union:
                scores.append(len(sa & sb) / len(union))
    return sum(scores) / len(scores) if scores else 0.0
