"""The core primitive: soft cross-entropy over logits with row-stochastic targets and a
validity mask. Most contrastive methods differ only in how they build targets and masks
(METHODS.md §1, observation)."""

from __future__ import annotations

import torch


def counted_mean(losses: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``losses`` [N] over the rows where ``counted`` [N] bool is True (0 when none). A masked
    sum, not ``losses[counted]``: boolean indexing waits for the GPU (a host-device synchronisation on
    every training step). Uncounted rows must be finite (``contrastive_row_losses`` gives them 0). Equals
    ``losses[counted].mean()`` up to float summation order (bit for bit when every row counts)."""
    total = torch.where(counted, losses, torch.zeros_like(losses)).sum()
    return total / counted.sum().clamp_min(1).to(total.dtype)


def soft_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    normalize_targets: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy ``-sum_j t_ij log softmax_j(logits_i)`` over the valid columns.

    Args:
        logits: [N, M] scores (already scaled by 1/temperature).
        targets: [N, M] non-negative target weights. With ``normalize_targets`` each
            row is divided by its sum over valid columns (rows summing to 0 contribute 0
            and are excluded from the mean); otherwise used as given (PIGEON's
            unnormalised haversine targets).
        mask: optional [N, M] bool; False columns are removed from the softmax
            (logit -inf) and get no target mass. Rows with no valid column give 0.
        reduction: "mean" (over rows with target mass), "sum", or "none" ([N]).

    Returns:
        scalar, or [N] for ``reduction="none"``.
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    if logits.dim() != 2:
        raise ValueError(f"logits must be [N, M], got {tuple(logits.shape)}")
    targets = targets.to(logits.dtype)
    if mask is not None:
        if mask.shape != logits.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must match logits {tuple(logits.shape)}")
        mask = mask.to(torch.bool)
        logits = logits.masked_fill(~mask, float("-inf"))
        targets = targets.masked_fill(~mask, 0.0)
    row_mass = targets.sum(dim=1)
    if normalize_targets:
        targets = targets / row_mass.clamp_min(torch.finfo(targets.dtype).tiny).unsqueeze(1)
    log_p = torch.log_softmax(logits, dim=1)
    # 0 * -inf must be 0 for masked columns (and for fully-masked rows).
    per_row = -(targets * log_p.masked_fill(targets == 0, 0.0)).sum(dim=1)
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    if reduction == "mean":
        has_mass = row_mass > 0
        return counted_mean(per_row, has_mass)
    raise ValueError(f"unknown reduction {reduction!r}")


def smooth_targets(targets: torch.Tensor, mask: torch.Tensor | None, smoothing: float) -> torch.Tensor:
    """Label smoothing for dense targets: ``(1 - eps) * t / sum(t) + eps / |valid|`` over the valid
    columns of every row that has target mass (rows without mass stay 0). With one-hot targets
    and no mask this is ``F.cross_entropy(..., label_smoothing=eps)``'s target (CL2L's terms)."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    t = targets if mask is None else targets.masked_fill(~mask.to(torch.bool), 0.0)
    if smoothing == 0.0:
        return t
    mass = t.sum(dim=1, keepdim=True)
    valid = torch.ones_like(t) if mask is None else mask.to(t.dtype)
    uniform = valid / valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    out = (1.0 - smoothing) * t / mass.clamp_min(torch.finfo(t.dtype).tiny) + smoothing * uniform
    return torch.where(mass > 0, out, torch.zeros_like(out))


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise ``logsumexp`` over the True entries of ``mask`` [N, M]; rows without any give
    -inf with a zero (not NaN) gradient."""
    has = mask.any(dim=1)
    safe = torch.where(mask, x, torch.full_like(x, float("-inf")))
    safe = torch.where(has.unsqueeze(1), safe, torch.zeros_like(x))
    out = torch.logsumexp(safe, dim=1)
    return torch.where(has, out, torch.full_like(out, float("-inf")))
