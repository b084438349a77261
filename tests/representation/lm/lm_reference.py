"""Independent naive references for the LM methods (float64 loops written from the papers' equations
or the reference code's formulation, never calling the library function under test)."""

from __future__ import annotations

import math

import torch


def naive_greedy(model, ids: list[int], steps: int) -> list[int]:
    """Greedy decoding by re-running the whole prefix every step (no cache)."""
    seq = list(ids)
    for _ in range(steps):
        logits = model(torch.tensor([seq])).logits[0, -1].detach()
        seq.append(int(logits.argmax()))
    return seq[len(ids):]


def naive_contrastive(model, ids: list[int], alpha: float, k: int, steps: int) -> list[int]:
    """Contrastive search without cache: for every top-k candidate v, run prefix + [v] from
    scratch and compare its last hidden state with all earlier ones (Su et al. 2022, eq. 5)."""
    seq = list(ids)
    for _ in range(steps):
        logits = model(torch.tensor([seq])).logits[0, -1].detach().double()
        p = torch.softmax(logits, -1)
        top = torch.topk(p, k)
        best, best_score = None, -math.inf
        for prob, v in zip(top.values.tolist(), top.indices.tolist()):
            h = model(torch.tensor([[*seq, v]])).hidden[0].detach().double()
            hv, ctx = h[-1], h[:-1]
            cos = max(float(hv @ c / (hv.norm() * c.norm())) for c in ctx)
            score = (1 - alpha) * prob - alpha * cos
            if score > best_score:
                best, best_score = v, score
        seq.append(best)
    return seq[len(ids):]


def fast_normalize_loss(losses: torch.Tensor, loss_mask: torch.Tensor) -> float:
    """BLOOMZ reference (Megatron-DeepSpeed finetune_t0 ``--norm-target-loss``): over the
    flattened mask, every maximal run of 1s gets weight 1 / run length; the loss is
    ``sum(losses * w) / sum(w)``."""
    flat_l = losses.reshape(-1).double().tolist()
    flat_m = loss_mask.reshape(-1).tolist()
    w = [0.0] * len(flat_m)
    i = 0
    while i < len(flat_m):
        j = i
        while j < len(flat_m) and flat_m[j] == flat_m[i]:
            j += 1
        for t in range(i, j):
            w[t] = flat_m[t] / (j - i)
        i = j
    return sum(a * b for a, b in zip(flat_l, w)) / sum(w)


def lambda_mrr_loop(y_pred: list[list[float]], y_true: list[list[float]], pad: float = -1.0) -> float:
    """UDR's lambda_mrr_loss as loops: sort by prediction, pairs of predicted positions (i, j)
    with true_i > true_j (no padding), weight |1/(i+1) - 1/(j+1)|, log(1 + exp(-(s_i - s_j))),
    mean over pairs."""
    terms = []
    for sp, st in zip(y_pred, y_true):
        items = [(s, t) for s, t in zip(sp, st)]
        order = sorted(range(len(items)), key=lambda i: -items[i][0] if items[i][1] != pad else math.inf)
        for a, ia in enumerate(order):
            for b, ib in enumerate(order):
                sa, ta = items[ia]
                sb, tb = items[ib]
                if ta == pad or tb == pad or not ta > tb:
                    continue
                w = abs(1 / (a + 1) - 1 / (b + 1))
                terms.append(w * math.log1p(math.exp(-(sa - sb))))
    return sum(terms) / len(terms)
