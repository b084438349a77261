"""SepCLR (Louiset et al., "SepCLR: Separating common from salient patterns with Contrastive
Representation Learning", ICLR 2024).

A background data set holds only the common factors; a target data set holds the common ones plus
salient factors of interest. An encoder gives two views' common embeddings c (L2-normalised) and
salient embeddings s. With s' = s on target samples and s' = 0 on background samples, and the
terms of :mod:`representation.losses.align_uniform` (the reference code's τ = 0.5 kernels):

    L = [A(c¹, c²) + w_u (U(c¹) + U(c²))/2]                       common space, every sample
      + β_s [A(s¹_T, s²_T) + w_u (U(s'¹) + U(s'²))/2]              salient space: aligned on target,
                                                                   uniform with background at 0
      + β_r (A(s¹_B, 0) + A(s²_B, 0))/2                            background salient pulled to 0
      + λ (J(c¹, s'¹) + J(c², s'²))/2                              mutual-information term

(T: target rows, B: background rows; reference weights w_u = 2, β_s = β_r = 1000, λ = 10 in the
CIFAR-MNIST script, kept as defaults). Every term is DDP-exact.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec
from representation.losses.align_uniform import alignment_loss, joint_entropy_loss, uniformity_loss
from representation.losses.base import LossBase
from representation.registry import register

SEPCLR_CITATION = ("Louiset, Duchesnay, Grigis, Dufumier and Gori, SepCLR: Separating common from salient "
                   "patterns with Contrastive Representation Learning, ICLR 2024")


@register("sepclr", kind="loss")
class SepCLRLoss(LossBase):
    """``forward(common [n, 2, Dc], salient [n, 2, Ds], is_target [n] bool, *, return_dict=False)``.

    Args:
        tau: kernel width of every term (reference 0.5).
        uniform_weight: w_u (2); salient_weight: β_s; reg_weight: β_r; mi_weight: λ.
        gather: cross-rank semantics.

    ``return_dict`` gives one ``*_loss`` key per weighted part (common, salient, reg, mi).
    """

    name = "sepclr"
    citation = SEPCLR_CITATION
    config_keys = ("tau", "uniform_weight", "salient_weight", "reg_weight", "mi_weight", "gather")

    def __init__(self, tau: float = 0.5, uniform_weight: float = 2.0, salient_weight: float = 1000.0,
                 reg_weight: float = 1000.0, mi_weight: float = 10.0,
                 gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau, self.uniform_weight = float(tau), float(uniform_weight)
        self.salient_weight, self.reg_weight, self.mi_weight = float(salient_weight), float(reg_weight), float(mi_weight)
        self.gather = GatherSpec.coerce(gather)

    def parts(self, common: torch.Tensor, salient: torch.Tensor, is_target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms: common_align, common_uniform, salient_align, salient_uniform, reg, mi."""
        if common.dim() != 3 or salient.dim() != 3 or common.shape[1] != 2 or salient.shape[1] != 2:
            raise ValueError(f"common and salient must be [n, 2, D], got {tuple(common.shape)}, {tuple(salient.shape)}")
        target = is_target.to(torch.bool).reshape(-1)
        tau, spec = self.tau, self.gather
        c1, c2 = F.normalize(common[:, 0], dim=-1), F.normalize(common[:, 1], dim=-1)
        s1, s2 = salient[:, 0], salient[:, 1]
        keep = target.unsqueeze(1).to(s1.dtype)
        t1, t2 = s1 * keep, s2 * keep  # s': background salient replaced by the null vector
        return {
            "common_align": alignment_loss(c1, c2, tau, spec=spec),
            "common_uniform": 0.5 * (uniformity_loss(c1, tau, spec) + uniformity_loss(c2, tau, spec)),
            "salient_align": alignment_loss(s1, s2, tau, counted=target, spec=spec),
            "salient_uniform": 0.5 * (uniformity_loss(t1, tau, spec) + uniformity_loss(t2, tau, spec)),
            "reg": 0.5 * (alignment_loss(t1, s1, tau, counted=~target, spec=spec)
                          + alignment_loss(t2, s2, tau, counted=~target, spec=spec)),
            "mi": 0.5 * (joint_entropy_loss(c1, t1, tau, spec) + joint_entropy_loss(c2, t2, tau, spec)),
        }

    def forward(self, common: torch.Tensor, salient: torch.Tensor, is_target: torch.Tensor, *,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        p = self.parts(common, salient, is_target)
        terms = {
            "common_loss": p["common_align"] + self.uniform_weight * p["common_uniform"],
            "salient_loss": self.salient_weight * (p["salient_align"] + self.uniform_weight * p["salient_uniform"]),
            "reg_loss": self.reg_weight * p["reg"],
            "mi_loss": self.mi_weight * p["mi"],
        }
        total = torch.stack(list(terms.values())).sum()
        if not return_dict:
            return total
        return {**terms, "logs": {k: v.detach() for k, v in p.items()}}
