"""Same-label (supervised-contrastive) targets."""

from __future__ import annotations

import torch


def same_label_targets(labels_q: torch.Tensor, labels_k: torch.Tensor, *,
                       ignore_label: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Targets [N, M] with 1 where ``labels_q[i] == labels_k[j]``, else 0.

    Args:
        labels_q: [N] integer labels, or [N, L] label tuples (equal only if all L entries match).
        labels_k: [M] or [M, L], same trailing shape as ``labels_q``.
        ignore_label: label value meaning "unlabelled"; pairs involving it get 0 (for
            [N, L] tuples: pairs where either tuple contains it anywhere).
        dtype: dtype of the result (feed to :func:`soft_cross_entropy`, which row-normalises).
    """
    if labels_q.dim() not in (1, 2) or labels_q.shape[1:] != labels_k.shape[1:] or labels_k.dim() != labels_q.dim():
        raise ValueError(f"labels must be [N] / [M] or [N, L] / [M, L], got {tuple(labels_q.shape)} and "
                         f"{tuple(labels_k.shape)}")
    lq = labels_q if labels_q.dim() == 2 else labels_q.unsqueeze(1)
    lk = labels_k if labels_k.dim() == 2 else labels_k.unsqueeze(1)
    eq = (lq.unsqueeze(1) == lk.unsqueeze(0)).all(dim=2)
    if ignore_label is not None:
        valid_q = ~(lq == ignore_label).any(dim=1)
        valid_k = ~(lk == ignore_label).any(dim=1)
        eq = eq & valid_q.unsqueeze(1) & valid_k.unsqueeze(0)
    return eq.to(dtype)
