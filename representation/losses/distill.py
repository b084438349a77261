"""Logit distillation (DSE): ``(1 − α) · CE(student, labels) + α · ‖student − teacher‖²``.

The squared error is averaged over all logits (``mean`` over N and classes), matching DSE's
``MSELoss`` on logits; the CE is the usual mean over rows. The teacher logits are detached:
no gradient ever reaches the teacher. :class:`DistillLoss` averages over the rows of all ranks
(:func:`representation.distributed.rank_mean`), so uneven batches under DDP stay exact.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.reduce import masked_mean
from representation.heads.siamese import DSE_CITATION
from representation.losses.base import LossBase
from representation.registry import register


def logit_distill_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (CE [N], MSE [N] = mean over classes) for student logits [N, C], teacher logits
    [N, C], labels [N] (long) or None (CE 0: pure distillation). One logit (C = 1): BCE."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher "
                         f"{tuple(teacher_logits.shape)} logits differ in shape")
    s2 = student_logits.reshape(student_logits.shape[0], -1)
    mse = (s2 - teacher_logits.detach().to(s2.dtype).reshape(s2.shape)).pow(2).mean(dim=1)
    if labels is None:
        return torch.zeros_like(mse), mse
    if student_logits.dim() == 1 or student_logits.shape[-1] == 1:
        ce = F.binary_cross_entropy_with_logits(s2.reshape(-1), labels.to(s2.dtype), reduction="none")
    else:
        ce = F.cross_entropy(student_logits, labels, reduction="none")
    return ce, mse


def logit_distill_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE, MSE) means over rows (single process); see :func:`logit_distill_rows`."""
    ce, mse = logit_distill_rows(student_logits, teacher_logits, labels)
    return ce.mean(), mse.mean()


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                 labels: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """``(1 − α) CE + α MSE`` (see :func:`logit_distill_terms`)."""
    ce, mse = logit_distill_terms(student_logits, teacher_logits, labels)
    return (1.0 - alpha) * ce + alpha * mse


@register("distill", kind="loss")
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
        ce, mse = logit_distill_rows(student_logits, teacher_logits, labels)
        loss = masked_mean((1.0 - self.alpha) * ce + self.alpha * mse)
        return self.output(loss, return_dict, ce=ce.mean(), mse=mse.mean())
