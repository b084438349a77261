"""Logit distillation (DSE): ``(1 − α) · CE(student, labels) + α · ‖student − teacher‖²``.

The squared error is averaged over all logits (``mean`` over N and classes), matching DSE's
``MSELoss`` on logits; the CE is the usual mean over rows. The teacher logits are detached:
no gradient ever reaches the teacher.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.heads.siamese import DSE_CITATION
from representation.losses.base import LossBase


def logit_distill_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE, MSE) for student logits [N, C], teacher logits [N, C], labels [N] (long) or None.

    CE is 0 when ``labels`` is None (pure distillation).
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher "
                         f"{tuple(teacher_logits.shape)} logits differ in shape")
    mse = F.mse_loss(student_logits, teacher_logits.detach().to(student_logits.dtype))
    if labels is None:
        return student_logits.new_zeros(()), mse
    if student_logits.dim() == 1 or student_logits.shape[-1] == 1:
        ce = F.binary_cross_entropy_with_logits(student_logits.reshape(-1), labels.to(student_logits.dtype))
    else:
        ce = F.cross_entropy(student_logits, labels)
    return ce, mse


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                 labels: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """``(1 − α) CE + α MSE`` (see :func:`logit_distill_terms`)."""
    ce, mse = logit_distill_terms(student_logits, teacher_logits, labels)
    return (1.0 - alpha) * ce + alpha * mse


class DistillLoss(LossBase):
    """DSE distillation loss.

    Args:
        alpha: weight of the distillation term in [0, 1]; 0 gives plain CE, 1 pure distillation.

    Forward: ``student_logits`` [N, C] (C = 1: binary logits with BCE), ``teacher_logits``
    [N, C], ``labels`` [N] or None. Dict output: ``distill_loss`` with logs ``ce`` and ``mse``.
    """

    name = "distill"
    citation = DSE_CITATION
    config_keys = ("alpha",)

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                labels: torch.Tensor | None = None, *, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        ce, mse = logit_distill_terms(student_logits, teacher_logits, labels)
        loss = (1.0 - self.alpha) * ce + self.alpha * mse
        return self.output(loss, return_dict, ce=ce, mse=mse)

    def get_config_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha}
