"""Optimal transport between two sets of embeddings: IPOT (Xie et al., "A Fast Proximal Point
Method for Computing Exact Wasserstein Distance", UAI 2019), as UNITER's word-region alignment
uses it (Chen et al., ECCV 2020).

With a cost C [m, n] (cosine distance 1 - cos), uniform marginals μ = 1/m over valid rows and
ν = 1/n over valid columns, and A = exp(-C/β), IPOT iterates

    Q = A ⊙ T;   repeat k times: δ = μ / (Q σ),  σ = ν / (Qᵀ δ);   T = diag(δ) Q diag(σ)

from T = 1, σ = 1/n. It is a proximal-point method: the plan converges to the exact OT plan
(not the entropic one) as the number of iterations grows. The plan is computed without gradient;
the distance ``D = Σ_ij C_ij T_ij = tr(Cᵀ T)`` carries the gradient of C only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_cost(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``1 - cos(x_i, y_j)``: [B, m, D], [B, n, D] -> [B, m, n]."""
    return 1.0 - F.normalize(x, dim=-1, eps=eps) @ F.normalize(y, dim=-1, eps=eps).transpose(-1, -2)


@torch.no_grad()
def ipot(cost: torch.Tensor, x_valid: torch.Tensor | None = None, y_valid: torch.Tensor | None = None, *,
         beta: float = 0.5, iterations: int = 50, k: int = 1) -> torch.Tensor:
    """Transport plan [B, m, n] (row marginals ≈ 1/m_valid, column marginals = 1/n_valid; 0 on padding).

    Args:
        cost: [B, m, n]; x_valid [B, m], y_valid [B, n]: bool, False = padding.
        beta: proximal step (UNITER: 0.5); iterations, k: outer / inner iterations (UNITER: 50, 1).
    """
    b, m, n = cost.shape
    xv = torch.ones(b, m, dtype=torch.bool, device=cost.device) if x_valid is None else x_valid.to(torch.bool)
    yv = torch.ones(b, n, dtype=torch.bool, device=cost.device) if y_valid is None else y_valid.to(torch.bool)
    mu = xv.to(cost.dtype) / xv.sum(dim=1, keepdim=True).clamp_min(1)
    nu = yv.to(cost.dtype) / yv.sum(dim=1, keepdim=True).clamp_min(1)
    joint = xv.unsqueeze(2) & yv.unsqueeze(1)
    a = torch.exp(-cost / beta) * joint
    plan = joint.to(cost.dtype)
    sigma = nu.clone()

    def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(num))

    for _ in range(iterations):
        q = a * plan
        for _ in range(k):
            delta = safe_div(mu, (q @ sigma.unsqueeze(2)).squeeze(2))
            sigma = safe_div(nu, (q.transpose(1, 2) @ delta.unsqueeze(2)).squeeze(2))
        plan = delta.unsqueeze(2) * q * sigma.unsqueeze(1)
    return plan


def ot_distance(x: torch.Tensor, y: torch.Tensor, x_valid: torch.Tensor | None = None,
                y_valid: torch.Tensor | None = None, *, beta: float = 0.5, iterations: int = 50,
                k: int = 1) -> torch.Tensor:
    """UNITER's WRA distance [B]: ``tr(Cᵀ T)`` with the cosine cost and the (no-grad) IPOT plan."""
    cost = cosine_cost(x, y)
    if x_valid is not None or y_valid is not None:
        xv = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if x_valid is None else x_valid.to(torch.bool)
        yv = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device) if y_valid is None else y_valid.to(torch.bool)
        cost = cost.masked_fill(~(xv.unsqueeze(2) & yv.unsqueeze(1)), 0.0)
    plan = ipot(cost.detach(), x_valid, y_valid, beta=beta, iterations=iterations, k=k)
    return (cost * plan).sum(dim=(1, 2))
