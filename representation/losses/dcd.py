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

from representation.distributed.blocks import Dense, global_rows, row_block
from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import masked_mean
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.miners.teacher import DCD_CITATION, TeacherHardNegativeMiner
from representation.registry import register


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


@register("dcd", kind="loss")
class DCDLoss(LossBase):
    """Dynamic contrastive distillation loss.

    Args:
        num_negatives: teacher-mined hard negatives per row kept in the distillation columns.
        temperature / learn_scale: student logit scale (scale = 1 / τ), see ``LossBase``.
        teacher_temperature: τ_t dividing the teacher scores before the softmax.
        weighting: ``"dynamic"`` (w_i as above) or ``"fixed"`` (w_i = ``fixed_weight``).
        gather: ``GatherSpec``; keys are gathered across ranks.

    Forward:
        q [n, D], k [m, D]: this rank's student embeddings (cosine similarity is used).
        teacher_scores: GLOBAL [N, M] cross-encoder scores over the gathered batch (or a row
            callable; only the mined columns matter).
        targets: optional GLOBAL [N, M] bool positives; default query i <-> key i.
    Dict output ``dcd_loss`` with logs ``ce``, ``kl``, ``weight_mean`` (this rank's rows).
    """

    name = "dcd"
    citation = DCD_CITATION
    config_keys = ("num_negatives", *SCALE_KEYS, "teacher_temperature", "weighting", "fixed_weight", "gather")

    def __init__(self, num_negatives: int = 8, temperature: float | None = None, learn_scale: bool = False,
                 teacher_temperature: float = 1.0, weighting: str = "dynamic", fixed_weight: float = 0.5,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        if weighting not in ("dynamic", "fixed"):
            raise ValueError(f"weighting must be 'dynamic' or 'fixed', got {weighting!r}")
        if not 0.0 <= fixed_weight <= 1.0:
            raise ValueError(f"fixed_weight must be in [0, 1], got {fixed_weight}")
        if teacher_temperature <= 0:
            raise ValueError(f"teacher_temperature must be > 0, got {teacher_temperature}")
        self.num_negatives = int(num_negatives)
        self.teacher_temperature = float(teacher_temperature)
        self.weighting, self.fixed_weight = weighting, float(fixed_weight)
        self.gather = GatherSpec.coerce(gather)
        self.miner = TeacherHardNegativeMiner(num_negatives)

    def forward(self, q: torch.Tensor, k: torch.Tensor, teacher_scores: Dense, *,
                targets: Dense = None, logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if targets is None and q.shape[0] != k.shape[0]:
            raise ValueError(f"default diagonal positives need as many keys as queries, got {q.shape[0]} and "
                             f"{k.shape[0]}")
        spec = self.gather
        rows, keys, q_layout, _ = gather_rows_and_keys(F.normalize(q, dim=-1), F.normalize(k, dim=-1), spec)
        n_keys = keys.shape[0]
        teacher = row_block(teacher_scores, q_layout, spec, n_keys, name="teacher_scores", device=q.device)
        pos = row_block(targets, q_layout, spec, n_keys, name="targets", device=q.device)
        if pos is None:
            index = global_rows(q_layout, spec, q.device)
            pos = torch.zeros(index.numel(), n_keys, dtype=torch.bool, device=q.device)
            pos[torch.arange(index.numel(), device=q.device), index] = True
        pos = pos.to(torch.bool)
        logits = self.resolve_scale(logit_scale) * rows @ keys.T
        hard = self.miner.mine(teacher, pos)
        ce, kl, weight = dcd_terms(logits, teacher, pos, hard, self.teacher_temperature)
        if self.weighting == "fixed":
            weight = torch.full_like(weight, self.fixed_weight)
        loss = masked_mean((1.0 - weight) * ce + weight * kl, None, spec)
        return self.output(loss, return_dict, ce=ce.mean(), kl=kl.mean(), weight_mean=weight.mean())
