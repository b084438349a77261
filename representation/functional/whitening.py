"""Whitening of embedding batches: ZCA per channel group, with an optional channel shuffle.

* :func:`zca_matrix` ``W = U diag((λ + eps)^-1/2) Uᵀ`` of a covariance ``C = U diag(λ) Uᵀ``
  (``torch.linalg.eigh``; differentiable, so the gradient flows through W, unlike the released
  WhitenedCSE code, which rebuilds the covariance with ``torch.tensor(covs, requires_grad=True)``
  and so cuts it, and calls the removed ``torch.symeig``);
* :func:`group_whiten` (WhitenedCSE's shuffled group whitening, Zhuo et al., ACL 2023): permute
  the D channels, split them into G groups of D/G, centre each group over the batch and multiply
  it by the ZCA matrix of its (biased, 1/N) covariance, then undo the permutation. Each group's
  output covariance is I (up to ``eps``) when the batch has more rows than D/G;
* :func:`fit_whitening` / :func:`apply_whitening`: the same transform estimated once on a data
  set and applied to new rows (post-hoc whitening, CCP; the geolocation embedding option).
"""

from __future__ import annotations

import torch


def zca_matrix(cov: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """ZCA whitening matrix of a symmetric PSD covariance [..., d, d] (batched)."""
    if cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"cov must be [..., d, d], got {tuple(cov.shape)}")
    evals, evecs = torch.linalg.eigh(cov)
    inv_sqrt = (evals.clamp_min(0.0) + eps).rsqrt()
    return (evecs * inv_sqrt.unsqueeze(-2)) @ evecs.transpose(-1, -2)


def group_whiten(x: torch.Tensor, num_groups: int, perm: torch.Tensor | None = None, *, eps: float = 1e-5,
                 stats: torch.Tensor | None = None) -> torch.Tensor:
    """Shuffled group whitening of ``x`` [N, D] (module docstring).

    Args:
        num_groups: G; D must be a multiple of G.
        perm: [D] channel permutation (None: no shuffle, groups are consecutive channels).
        stats: rows [M, D] to estimate the mean and covariance from (default ``x``; under DDP the
            gathered batch, so every rank whitens with the full-batch statistics).

    Returns:
        [N, D] whitened rows, channels in their original order.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be [N, D], got {tuple(x.shape)}")
    n, d = x.shape
    if num_groups < 1 or d % num_groups:
        raise ValueError(f"D = {d} must be a multiple of num_groups = {num_groups}")
    ref = x if stats is None else stats
    if perm is not None:
        if perm.shape != (d,):
            raise ValueError(f"perm must be [{d}], got {tuple(perm.shape)}")
        x, ref = x[:, perm], ref[:, perm]
    g, w = num_groups, d // num_groups
    mean = ref.mean(dim=0, keepdim=True)
    ref_c = (ref - mean).reshape(ref.shape[0], g, w).transpose(0, 1)  # [G, M, w]
    cov = ref_c.transpose(1, 2) @ ref_c / ref.shape[0]  # [G, w, w]
    out = ((x - mean).reshape(n, g, w).transpose(0, 1) @ zca_matrix(cov, eps)).transpose(0, 1).reshape(n, d)
    if perm is not None:
        out = out[:, torch.argsort(perm)]
    return out


def fit_whitening(x: torch.Tensor, *, eps: float = 1e-5, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [D] and whitening matrix [D, k] estimated on ``x`` [N, D] (no gradient).

    ``dim=None`` gives ZCA (k = D); ``dim=k`` keeps the k leading principal directions
    (PCA whitening, as BERT-whitening does), ``W = U_k diag(λ_k + eps)^-1/2``.
    """
    x = x.detach().to(torch.float64)
    mean = x.mean(dim=0)
    xc = x - mean
    cov = xc.T @ xc / x.shape[0]
    if dim is None:
        return mean, zca_matrix(cov, eps)
    if not 1 <= dim <= x.shape[1]:
        raise ValueError(f"dim must be in [1, {x.shape[1]}], got {dim}")
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)[:dim]
    return mean, evecs[:, order] * (evals[order].clamp_min(0.0) + eps).rsqrt()


def apply_whitening(x: torch.Tensor, mean: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``(x - mean) @ matrix`` in ``x``'s dtype."""
    return (x - mean.to(x.dtype)) @ matrix.to(x.dtype)
