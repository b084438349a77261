"""Reductions across ranks, including THE normalisation every loss uses under DDP.

:func:`rank_mean` turns a rank's sum of per-term losses and its count of terms into the value
to backpropagate, such that after DDP's gradient *average* over W ranks the gradient equals the
gradient of the full-batch mean ``(sum over all ranks' terms) / (number of terms on all ranks)``,
even when ranks hold different numbers of terms (rows without positives, uneven batches). The
returned value is the full-batch mean itself on every rank (logs agree across ranks).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from representation.distributed.gather import GatherSpec, world


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over all ranks, detached (no gradient). Identity in one process."""
    _, size = world()
    if size == 1:
        return x.detach()
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y


def rank_mean(total: torch.Tensor, count: torch.Tensor | float, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Full-batch mean ``sum / count`` from this rank's part (see the module docstring).

    Args:
        total: 0-d sum of this rank's loss terms (carries the gradient).
        count: number of terms behind ``total`` (any number; no gradient).
        spec: with ``local_loss=False`` every rank already holds every term, so no
            communication is needed.

    Returns:
        0-d tensor whose value is the global mean and whose gradient, averaged over ranks,
        is the gradient of the global mean. A global count of 0 gives 0 (no term counts).
    """
    count_t = torch.as_tensor(count, device=total.device).detach().to(total.dtype)
    _, size = world()
    if size == 1 or not spec.local_loss:
        return total / count_t.clamp_min(1)
    stats = torch.stack([total.detach(), count_t])
    dist.all_reduce(stats, op=dist.ReduceOp.SUM)
    global_count = stats[1].clamp_min(1)
    share = total * (size / global_count)  # DDP's average over W ranks restores the 1 / count
    return stats[0] / global_count + (share - share.detach())


def masked_mean(values: torch.Tensor, counted: torch.Tensor | None = None,
                spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """:func:`rank_mean` of per-term ``values`` [R]; ``counted`` [R] bool marks the terms that
    count (others, e.g. rows without a positive, are ignored even if NaN)."""
    if counted is None:
        return rank_mean(values.sum(), values.numel(), spec)
    counted = counted.to(torch.bool)
    total = torch.where(counted, values, torch.zeros_like(values)).sum()
    return rank_mean(total, counted.sum(), spec)



def ratio_mean(totals: torch.Tensor, counts: torch.Tensor, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """``Σ totals / Σ counts`` over the samples of ALL ranks, from this rank's per-sample sums
    ``totals`` [n] (with gradient) and term counts ``counts`` [n] (e.g. masked patches or target
    tokens per sample), under any spec: with ``local_loss=False`` every rank must hold every
    sample's terms, so they are gathered first (with ``spec``'s gradient semantics); then
    :func:`rank_mean`."""
    from representation.distributed.gather import gather

    if not spec.local_loss and world()[1] > 1:
        totals = gather(totals, spec).tensor
        counts = gather(counts.detach(), GatherSpec(local_loss=False, with_grad=False)).tensor
    return rank_mean(totals.sum(), counts.sum(), spec)


def sample_mean(values: torch.Tensor, counted: torch.Tensor | None = None,
                spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """:func:`masked_mean` of per-sample terms [n] computed from THIS rank's samples only (an
    alignment per pair, a per-pair distance), under any spec (:func:`ratio_mean` with counts 0 / 1)."""
    ok = torch.ones_like(values, dtype=torch.bool) if counted is None else counted.to(torch.bool)
    return ratio_mean(torch.where(ok, values, torch.zeros_like(values)), ok.to(values.dtype), spec)
