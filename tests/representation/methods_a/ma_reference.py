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


def _ce_row(row: list[float], target: int, smoothing: float) -> float:
    """torch-style label-smoothed cross-entropy of one row, by loops."""
    lse = math.log(sum(math.exp(v) for v in row))
    n = len(row)
    return -sum(((1 - smoothing) * (1.0 if j == target else 0.0) + smoothing / n) * (row[j] - lse)
                for j in range(n))


def reference_cl2l(z_image: torch.Tensor, z_text: torch.Tensor, h_image: list[torch.Tensor],
                   h_text: list[torch.Tensor], logit_scale: float, h_logit_scale: float,
                   smoothing: float, loss_avg_or_sum: str = "avg") -> float:
    """clip-rocket ``losses.py::CL2LLoss.forward`` in one process, written as loops from its code:
    normalise; global logits with ``logit_scale``; for every augmentation i, every image view h
    against text view i and every text view h against image view i with ``h_logit_scale``
    (A x A logits per direction), label-smoothed CE averaged over them; per direction
    ``(global + local * A) / (1 + A)``; mean of the two directions (x2 for "sum")."""
    def unit(x):
        return [[float(v) / math.sqrt(sum(float(u) ** 2 for u in row)) for v in row] for row in x]

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    zi, zt = unit(z_image), unit(z_text)
    hi, ht = [unit(h) for h in h_image], [unit(h) for h in h_text]
    n, num_augs = len(zi), len(hi)

    def ce(rows_x, cols_y, scale, smooth):
        return sum(_ce_row([scale * dot(rows_x[r], cols_y[c]) for c in range(n)], r, smooth) for r in range(n)) / n

    img_global = ce(zi, zt, logit_scale, 0.0)
    txt_global = ce(zt, zi, logit_scale, 0.0)
    img_local = txt_local = 0.0
    if num_augs:
        img_terms = [ce(h, ht[i], h_logit_scale, smoothing) for i in range(num_augs) for h in hi]
        txt_terms = [ce(h, hi[i], h_logit_scale, smoothing) for i in range(num_augs) for h in ht]
        img_local, txt_local = sum(img_terms) / len(img_terms), sum(txt_terms) / len(txt_terms)
    img = (img_global + img_local * num_augs) / (1 + num_augs)
    txt = (txt_global + txt_local * num_augs) / (1 + num_augs)
    return (img + txt) / 2 * (2 if loss_avg_or_sum == "sum" else 1)
