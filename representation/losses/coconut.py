"""COCONUT's negative-student positive-teacher loss (NSPT; Cappellazzo et al., "Continual
Contrastive Spoken Language Understanding", Findings of ACL 2024).

For rehearsal samples, the anchors are the student's embeddings h_i, the positives the FROZEN
teacher's (the model after the previous task) embeddings h̃_p of the samples with the same label,
and the normalising candidates the student's own embeddings of every other sample:

    L_i = -1/|P(i)| Σ_{p ∈ P(i)} log  exp(h_i · h̃_p / τ) / Σ_{a ∈ A(i)} exp(h_i · h_a / τ)

with P(i) = {p ≠ i : y_p = y_i} and A(i) = {a ≠ i}. Old classes stay where the teacher put them
(positives) while the student keeps separating samples (negatives). With teacher = student this is
SupCon (Khosla et al.) exactly. The teacher gets no gradient. Anchors without positive are left out;
the mean runs over the anchors of all ranks (DDP-exact).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec, gather
from representation.distributed.reduce import masked_mean
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.registry import register

_LABEL_SPEC = GatherSpec(local_loss=False, with_grad=False)
COCONUT_CITATION = ("Cappellazzo, Falavigna, Brutti and Ricci, Continual Contrastive Spoken Language "
                    "Understanding, Findings of ACL 2024")


def nspt_row_losses(rows: torch.Tensor, student: torch.Tensor, teacher: torch.Tensor, row_labels: torch.Tensor,
                    labels: torch.Tensor, row_index: torch.Tensor, scale: torch.Tensor | float,
                    teacher_self_positive: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor NSPT losses [R] and which anchors count (have a positive).

    Args:
        rows: anchors [R, D] (student, normalised); student / teacher: all samples [N, D].
        row_labels [R], labels [N]; row_index [R]: each anchor's column in ``student``.
        teacher_self_positive: also count the teacher's view of the anchor itself as a positive.
    """
    r = torch.arange(rows.shape[0], device=rows.device)
    logits_s = (rows @ student.T) * scale
    logits_s = logits_s.masked_fill(F.one_hot(row_index, student.shape[0]).bool(), float("-inf"))
    lse = torch.logsumexp(logits_s, dim=1)
    logits_t = (rows @ teacher.detach().T) * scale
    pos = row_labels.unsqueeze(1) == labels.unsqueeze(0)
    if not teacher_self_positive:
        pos[r, row_index] = False
    n_pos = pos.sum(dim=1)
    mean_pos = torch.where(pos, logits_t, torch.zeros_like(logits_t)).sum(dim=1) / n_pos.clamp_min(1)
    return lse - mean_pos, n_pos > 0


@register("nspt", kind="loss")
class NSPTLoss(LossBase):
    """``forward(student [n, D], teacher [n, D], labels [n], *, logit_scale=None, return_dict=False)``.

    Features are L2-normalised; ``teacher`` is detached. Default τ = 0.1.
    """

    name = "nspt"
    citation = COCONUT_CITATION
    config_keys = (*SCALE_KEYS, "teacher_self_positive", "gather")

    def __init__(self, temperature: float | None = 0.1, learn_scale: bool = False, *,
                 teacher_self_positive: bool = False, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale, max_scale=max_scale,
                         init_temperature=init_temperature)
        self.teacher_self_positive = bool(teacher_self_positive)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, *,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if student.shape != teacher.shape or labels.shape[0] != student.shape[0]:
            raise ValueError(f"student {tuple(student.shape)}, teacher {tuple(teacher.shape)} and labels "
                             f"{tuple(labels.shape)} must describe the same samples")
        s, t = F.normalize(student, dim=-1), F.normalize(teacher.detach(), dim=-1)
        rows, keys, layout, _ = gather_rows_and_keys(s, None, self.gather)
        all_t = gather(t, _LABEL_SPEC).tensor
        all_y = gather(labels, _LABEL_SPEC).tensor
        index = global_rows(layout, self.gather, device=s.device)
        losses, counted = nspt_row_losses(rows, keys, all_t, all_y[index], all_y, index,
                                          self.resolve_scale(logit_scale), self.teacher_self_positive)
        return self.output(masked_mean(losses, counted, self.gather), return_dict)
