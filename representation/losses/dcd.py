"""DCD: distil a cross-encoder teacher into a dual encoder with teacher-mined hard negatives and
dynamic per-sample weights.

For each query row i (student logits ``s`` [N, M], teacher scores ``t`` [N, M], positives P_i):

* ``C_i`` = P_i ∪ (top-k teacher-scored negatives) (:class:`TeacherHardNegativeMiner`);
* contrastive term ``CE_i`` = InfoNCE of the student over all valid columns (multi-positive:
  uniform target over P_i, via ``soft_cross_entropy``);
* distillation term ``KL_i = KL(softmax(t_i / τ_t) ‖ softmax(s_i))`` restricted to ``C_i``;
* dynamic weight ``w_i = p^T_i(P_i) · (1 − p^S_i(P_i))`` ∈ [0, 1] (detached), where ``p(P_i)``
  is the probability mass a model puts on the positives within ``C_i``: distil where the
  teacher is right and the student is not yet; learn on one's own where the teacher is unsure;
* ``loss = mean_i[(1 − w_i) · CE_i + w_i · KL_i]``.

The DCD code is not released (README only); the weight formula above is this library's reading
of the paper's "dynamic distillation" (docs/representation_methods_b.md). ``weighting="fixed"``
uses a constant ``w``. Teacher = student gives ``KL_i = 0``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import LossBase
from representation.miners.teacher import DCD_CITATION, TeacherHardNegativeMiner


def _masked_log_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(x.masked_fill(~mask, float("-inf")), dim=1)


def dcd_terms(student_logits: torch.Tensor, teacher_scores: torch.Tensor, positive_mask: torch.Tensor,
              distill_mask: torch.Tensor, teacher_temperature: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row (CE [N], KL [N], dynamic weight [N]) as in the module docstring.

    ``distill_mask`` [N, M] bool = the columns C_i (must contain the positives).
    """
    pos = positive_mask.bool()
    cmask = distill_mask.bool() | pos
    ce = soft_cross_entropy(student_logits, pos.to(student_logits.dtype), reduction="none")
    teacher = teacher_scores.detach().to(student_logits.dtype) / teacher_temperature
    log_pt = _masked_log_softmax(teacher, cmask)
    log_ps = _masked_log_softmax(student_logits, cmask)
    pt = log_pt.exp()
    kl = (pt * (log_pt - log_ps)).masked_fill(~cmask, 0.0).sum(dim=1)
    with torch.no_grad():
        pt_pos = (pt * pos).sum(dim=1)
        ps_pos = (log_ps.exp() * pos).sum(dim=1)
        weight = (pt_pos * (1.0 - ps_pos)).clamp(0.0, 1.0)
    return ce, kl, weight


class DCDLoss(LossBase):
    """Dynamic contrastive distillation loss.

    Args:
        num_negatives: teacher-mined hard negatives per row kept in the distillation columns.
        temperature / learn_scale: student logit scale (scale = 1 / τ), see ``LossBase``.
        teacher_temperature: τ_t dividing the teacher scores before the softmax.
        weighting: ``"dynamic"`` (w_i as above) or ``"fixed"`` (w_i = ``fixed_weight``).

    Forward:
        q [N, D], k [M, D]: student embeddings (cosine similarity is used).
        teacher_scores [N, M]: cross-encoder scores (only the mined columns matter).
        targets: optional [N, M] bool positives; default the diagonal (M >= N, column i for row i).
    Dict output ``dcd_loss`` with logs ``ce``, ``kl``, ``weight_mean``.
    """

    name = "dcd"
    citation = DCD_CITATION
    config_keys = ("num_negatives", "teacher_temperature", "weighting", "fixed_weight")

    def __init__(self, num_negatives: int = 8, temperature: float | None = None, learn_scale: bool = False,
                 teacher_temperature: float = 1.0, weighting: str = "dynamic", fixed_weight: float = 0.5) -> None:
        super().__init__(temperature, learn_scale)
        if weighting not in ("dynamic", "fixed"):
            raise ValueError(f"weighting must be 'dynamic' or 'fixed', got {weighting!r}")
        if not 0.0 <= fixed_weight <= 1.0:
            raise ValueError(f"fixed_weight must be in [0, 1], got {fixed_weight}")
        if teacher_temperature <= 0:
            raise ValueError(f"teacher_temperature must be > 0, got {teacher_temperature}")
        self.num_negatives = int(num_negatives)
        self.teacher_temperature = float(teacher_temperature)
        self.weighting, self.fixed_weight = weighting, float(fixed_weight)
        self.miner = TeacherHardNegativeMiner(num_negatives)

    def forward(self, q: torch.Tensor, k: torch.Tensor, teacher_scores: torch.Tensor, *,
                targets: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        n, m = q.shape[0], k.shape[0]
        if teacher_scores.shape != (n, m):
            raise ValueError(f"teacher_scores must be [{n}, {m}], got {tuple(teacher_scores.shape)}")
        if targets is None:
            if m < n:
                raise ValueError(f"default diagonal positives need M >= N, got N={n}, M={m}")
            targets = torch.eye(n, m, dtype=torch.bool, device=q.device)
        logits = self.resolve_scale(logit_scale) * F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T
        hard = self.miner.mine(teacher_scores, targets)
        ce, kl, weight = dcd_terms(logits, teacher_scores, targets, hard, self.teacher_temperature)
        if self.weighting == "fixed":
            weight = torch.full_like(weight, self.fixed_weight)
        loss = ((1.0 - weight) * ce + weight * kl).mean()
        return self.output(loss, return_dict, ce=ce.mean(), kl=kl.mean(), weight_mean=weight.mean())
