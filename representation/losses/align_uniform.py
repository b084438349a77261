"""Alignment, uniformity and joint-entropy terms as DDP-exact losses (SepCLR's building blocks).

With Gaussian kernels ``K_τ(x, y) = exp(-||x - y||² / (2τ))`` (SepCLR's reference code):

* alignment ``A(x, y) = mean_i ||x_i - y_i||² / (2τ)`` (Wang and Isola with α = 2);
* uniformity ``U(x) = log mean_{i ≠ j} K_τ(x_i, x_j)`` (Wang and Isola, t = 1/(2τ)), in log space
  (shifted by the largest off-diagonal log-kernel, so far-apart features do not underflow);
* joint entropy ``J(c, s) = mean_i log mean_j K_τ(c_i, c_j) K_τ(s_i, s_j)`` (j over all samples,
  self included): SepCLR's estimate of -H(c, s); it is lower when c and s are independent than
  when they share information.

Under DDP the pair sums run over the gathered batch (differentiable gather) and every mean goes
through :func:`representation.distributed.rank_mean`; a log of a global mean is the log of the
``rank_mean`` value, whose gradient (``W ∂S_r / S`` per rank, averaged by DDP) is exactly
``∂ log S``.
"""

from __future__ import annotations

import math

import torch

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import masked_mean, rank_mean, sample_mean
from representation.losses.engine import gather_rows_and_keys


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(dim=-1)


def alignment_loss(x: torch.Tensor, y: torch.Tensor, tau: float = 0.5, counted: torch.Tensor | None = None,
                   spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """``mean_i ||x_i - y_i||² / (2τ)`` over the ``counted`` rows [n] of all ranks."""
    if x.shape != y.shape:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} differ")
    return sample_mean((x - y).pow(2).sum(dim=-1) / (2 * tau), counted, spec)


def uniformity_loss(x: torch.Tensor, tau: float = 0.5, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """``log mean_{i ≠ j} exp(-||x_i - x_j||² / (2τ))`` over all pairs of the gathered batch."""
    rows, keys, layout, _ = gather_rows_and_keys(x, None, spec)
    idx = global_rows(layout, spec, device=x.device)
    logits = -_sq_dist(rows, keys) / (2 * tau)
    off = torch.ones_like(logits, dtype=torch.bool)
    off[torch.arange(rows.shape[0], device=x.device), idx] = False
    shift = _pair_max(logits, off, keys, tau)
    total = torch.exp((logits - shift).masked_fill(~off, -torch.inf)).sum()  # self pairs would overflow
    return shift + torch.log(rank_mean(total, off.sum(), spec))


@torch.no_grad()
def _pair_max(logits: torch.Tensor, off: torch.Tensor, keys: torch.Tensor, tau: float) -> torch.Tensor:
    """Largest off-diagonal ``-||k_i - k_j||² / (2τ)`` over the gathered batch: the same constant on
    every rank (keys are identical everywhere), so ``log mean exp`` runs in log space and stays
    DDP-exact. From ``logits`` when its rows are the whole batch, else from the keys."""
    if logits.shape[0] != keys.shape[0]:
        logits = -_sq_dist(keys, keys) / (2 * tau)
        off = ~torch.eye(keys.shape[0], dtype=torch.bool, device=keys.device)
    m = torch.where(off, logits, torch.full_like(logits, -torch.inf)).max()
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def joint_entropy_loss(c: torch.Tensor, s: torch.Tensor, tau: float = 0.5,
                       spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """``mean_i log mean_j K_τ(c_i, c_j) K_τ(s_i, s_j)`` (j over every sample, self included)."""
    if c.shape[0] != s.shape[0]:
        raise ValueError(f"c and s need the same rows, got {c.shape[0]} and {s.shape[0]}")
    joint = torch.cat([c, s], dim=1)  # ||c_i - c_j||² + ||s_i - s_j||² = ||[c, s]_i - [c, s]_j||²
    rows, keys, _, _ = gather_rows_and_keys(joint, None, spec)
    log_mean = torch.logsumexp(-_sq_dist(rows, keys) / (2 * tau), dim=1) - math.log(keys.shape[0])
    return masked_mean(log_mean, None, spec)
