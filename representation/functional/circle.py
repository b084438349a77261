"""Circle loss (Sun et al., CVPR 2020) on dense positive / negative masks.

For a row with similarities ``s_j`` (cosine, unscaled), positives P and negatives N:

    alpha_p = max(0, 1 + m - s_p),   alpha_n = max(0, s_n + m)     (detached: self-paced weights)
    L = softplus( logsumexp_{p in P} -gamma alpha_p (s_p - (1 - m))
                + logsumexp_{n in N}  gamma alpha_n (s_n - m) )

This is the form of DreamLIP's multi-positive image -> sub-captions loss
(``pairwise_circleloss`` in ``zyf0619sjtu/DreamLIP open_clip/loss.py``) and of
pytorch-metric-learning's ``CircleLoss``. Rows without a positive give 0 and do not count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from representation.functional.soft_ce import masked_logsumexp


def circle_loss_rows(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.25,
                     gamma: float = 32.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row circle losses [N] and which rows count [N] (rows with a positive).

    Args:
        sim: [N, M] similarities in [-1, 1].
        pos, neg: [N, M] bool masks (a column in neither is ignored).
        margin: m (relaxation); gamma: scale.
    """
    if sim.shape != pos.shape or sim.shape != neg.shape:
        raise ValueError(f"sim {tuple(sim.shape)}, pos {tuple(pos.shape)}, neg {tuple(neg.shape)} must match")
    pos, neg = pos.to(torch.bool), neg.to(torch.bool)
    alpha_p = (1.0 + margin - sim.detach()).clamp_min(0.0)
    alpha_n = (sim.detach() + margin).clamp_min(0.0)
    lse_p = masked_logsumexp(-gamma * alpha_p * (sim - (1.0 - margin)), pos)
    lse_n = masked_logsumexp(gamma * alpha_n * (sim - margin), neg)
    counted = pos.any(dim=1)
    has_both = counted & neg.any(dim=1)
    z = torch.where(has_both, lse_p + lse_n, torch.zeros_like(lse_p))
    return torch.where(has_both, F.softplus(z), torch.zeros_like(z)), counted

