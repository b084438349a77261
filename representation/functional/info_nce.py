"""InfoNCE over pairwise similarities (CLIP symmetric, MNRL / SimCSE one-directional).

Pure single-process functions; :class:`representation.losses.InfoNCELoss` adds the
cross-rank gathering on top of :func:`contrastive_row_losses`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from representation.functional.soft_ce import counted_mean, smooth_targets, soft_cross_entropy
from representation.similarity.pairwise import pairwise_similarity


def contrastive_row_losses(
    logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    normalize_targets: bool = True,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row cross-entropy losses and which rows count.

    Args:
        logits: [N, M] scaled scores.
        labels: [N] column index of each row's positive (used when ``targets`` is None).
        targets: [N, M] non-negative target weights (see :func:`soft_cross_entropy`).
        mask: [N, M] bool, False removes a column from row i's softmax.
        label_smoothing: eps of :func:`smooth_targets` (0: none).

    Returns:
        (losses [N], counted [N] bool). ``counted`` is False for rows with no target mass
        (after masking); their loss is 0 and they must be left out of a mean.

    With ``targets`` and ``mask`` both None this is ``F.cross_entropy`` on the labels (the
    fast path, no [N, M] target matrix is built).
    """
    if targets is None and mask is None:
        if labels is None:
            raise ValueError("give labels or targets")
        losses = F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
        return losses, torch.ones_like(losses, dtype=torch.bool)
    if targets is None:
        if labels is None:
            raise ValueError("give labels or targets")
        targets = torch.zeros_like(logits)
        targets[torch.arange(logits.shape[0], device=logits.device), labels] = 1.0
    t = targets.to(logits.dtype)
    if mask is not None:
        t = t.masked_fill(~mask.to(torch.bool), 0.0)
    counted = t.sum(dim=1) > 0
    if label_smoothing:
        t = smooth_targets(t, mask, label_smoothing)
        normalize_targets = False
    losses = soft_cross_entropy(logits, t, mask, normalize_targets=normalize_targets, reduction="none")
    return losses, counted


def info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    scale: float | torch.Tensor = 1.0 / 0.07,
    bias: float | torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
    symmetric: bool = False,
    similarity: str = "cosine",
) -> torch.Tensor:
    """Single-process InfoNCE (mean over counted rows).

    Args:
        q: [N, D] queries; k: [N, D] keys, row i of k is the positive of row i of q.
        scale: logit scale = 1 / temperature.
        bias: optional additive logit bias (a constant shift; softmax-invariant).
        targets: optional [N, N + H] soft targets (default: identity on the first N columns).
        mask: optional [N, N + H] bool validity mask.
        negatives: optional [H, D] (or [N, h, D], flattened) extra key columns (MNRL hard
            negatives, NegCLIP hard captions); used only in the q -> k direction.
        symmetric: CLIP: mean of q -> k and k -> q losses; the k -> q direction uses
            ``targets[:, :N].T`` / ``mask[:, :N].T``.
        similarity: "cosine" or "dot".

    Returns:
        scalar loss.
    """
    n = q.shape[0]
    cols = k if negatives is None else torch.cat([k, negatives.reshape(-1, k.shape[1])], dim=0)
    logits = pairwise_similarity(q, cols, similarity) * scale
    if bias is not None:
        logits = logits + bias
    labels = torch.arange(n, device=q.device)
    losses, counted = contrastive_row_losses(logits, labels, targets, mask)
    loss = counted_mean(losses, counted)
    if not symmetric:
        return loss
    logits_t = pairwise_similarity(k, q, similarity) * scale
    if bias is not None:
        logits_t = logits_t + bias
    t_t = None if targets is None else targets[:, :n].T
    m_t = None if mask is None else mask[:, :n].T
    losses_t, counted_t = contrastive_row_losses(logits_t, labels, t_t, m_t)
    return 0.5 * (loss + counted_mean(losses_t, counted_t))
