"""Classification cross-entropy with hard or soft targets, DDP-exact (mean over all ranks' rows).

``CrossEntropyLoss()(logits [n, C], target)`` with ``target`` [n] class indices or [n, C]
non-negative weights (row-normalised; PIGEON's haversine targets), an optional ``mask``
[n, C] of valid classes and label smoothing. It is the soft-CE primitive with the library's
one normalisation (:func:`representation.distributed.rank_mean`): under DDP with uneven batches
the averaged gradient is the full-batch one. Use it for geocell heads, entity heads (MOFI) and
as a registered term of :class:`~representation.losses.multitask.MultiTaskLoss`.
"""

from __future__ import annotations

from typing import Any

import torch

from representation.distributed.reduce import masked_mean
from representation.functional.info_nce import contrastive_row_losses
from representation.losses.base import LossBase
from representation.registry import register


@register("cross_entropy", kind="loss")
class CrossEntropyLoss(LossBase):
    """Cross-entropy over class logits (rows are samples; no gather: per-sample).

    Args:
        label_smoothing: smoothing over each row's valid classes.
        normalize_targets: row-normalise soft targets (False: PIGEON's un-normalised ``-Σ y log p``).
    """

    name = "ce"
    citation = "(standard cross-entropy; label smoothing: Szegedy et al., CVPR 2016)"
    config_keys = ("label_smoothing", "normalize_targets")

    def __init__(self, label_smoothing: float = 0.0, normalize_targets: bool = True) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing, self.normalize_targets = float(label_smoothing), bool(normalize_targets)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, *, mask: torch.Tensor | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if target.dim() == 1:
            rows, counted = contrastive_row_losses(logits, target.long(), None, mask,
                                                   label_smoothing=self.label_smoothing)
        else:
            rows, counted = contrastive_row_losses(logits, None, target, mask, label_smoothing=self.label_smoothing,
                                                   normalize_targets=self.normalize_targets)
        return self.output(masked_mean(rows, counted), return_dict)
