"""Heuristic vision pre-training (Qian, "Heuristic Vision Pre-Training with Self-Supervised and
Supervised Multi-Task Learning", arXiv:2310.07510, 2023): one backbone trained with a weighted sum
of a multi-label classification head, a masked-image-modelling head and a contrastive term.

* :class:`MultiLabelBCELoss`: ``mean over known labels of BCE(σ(logit), y)`` (unknown labels -1
  are ignored);
* :class:`MaskedReconstructionLoss`: ``mean over masked patches of ||pred - target||²`` (MAE's
  form; ``norm_target`` normalises each target patch by its mean and variance, as MAE's
  ``norm_pix_loss``); :func:`random_patch_mask` draws the masked patches;
* :func:`heuristic_pretraining_loss` builds the recipe as a
  :class:`representation.losses.MultiTaskLoss` ``{"attributes", "mim", "contrastive"}``: a term
  with weight 0 is not evaluated, so its head gets no gradient.

Both means run over the terms of all ranks (:func:`representation.distributed.ratio_mean`), so DDP
equals full-batch training whatever the number of masked patches per rank and whatever the spec.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import ratio_mean
from representation.losses.base import LossBase
from representation.losses.multitask import MultiTaskLoss
from representation.registry import register

HEURISTIC_CITATION = ("Qian, Heuristic Vision Pre-Training with Self-Supervised and Supervised Multi-Task "
                      "Learning, arXiv:2310.07510, 2023")
MAE_CITATION = "He et al., Masked Autoencoders Are Scalable Vision Learners, CVPR 2022"


def random_patch_mask(n: int, num_patches: int, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bool [n, num_patches] with ``round(ratio * num_patches)`` True (masked) entries per row."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    k = round(ratio * num_patches)
    order = torch.rand(n, num_patches, generator=generator).argsort(dim=1)
    return order < k


@register("multilabel_bce", kind="loss")
class MultiLabelBCELoss(LossBase):
    """``forward(logits [n, L], labels [n, L] in {0, 1, -1})``: BCE averaged over the known labels
    of all ranks."""

    name = "multilabel_bce"
    citation = HEURISTIC_CITATION
    config_keys = ("gather",)

    def __init__(self, gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        self.gather = GatherSpec.coerce(gather)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, *, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if logits.shape != labels.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ")
        known = labels >= 0
        bce = F.binary_cross_entropy_with_logits(logits, labels.clamp_min(0).to(logits.dtype), reduction="none")
        totals = torch.where(known, bce, torch.zeros_like(bce)).sum(dim=1)
        return self.output(ratio_mean(totals, known.sum(dim=1), self.gather), return_dict)


@register("masked_reconstruction", kind="loss")
class MaskedReconstructionLoss(LossBase):
    """``forward(pred [n, P, C], target [n, P, C], mask [n, P] bool)``: mean over masked patches of
    the per-patch mean squared error (MAE)."""

    name = "mim"
    citation = f"{HEURISTIC_CITATION}; {MAE_CITATION}"
    config_keys = ("norm_target", "gather")

    def __init__(self, norm_target: bool = False, gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        self.norm_target = bool(norm_target)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if pred.shape != target.shape or pred.shape[:2] != mask.shape:
            raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)}")
        target = target.detach()
        if self.norm_target:
            mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = (pred - target).pow(2).mean(dim=-1)
        m = mask.to(torch.bool)
        totals = torch.where(m, per_patch, torch.zeros_like(per_patch)).sum(dim=1)
        return self.output(ratio_mean(totals, m.sum(dim=1), self.gather), return_dict)


def heuristic_pretraining_loss(weights: dict[str, float] | None = None, *, temperature: float = 0.1,
                               norm_target: bool = False) -> MultiTaskLoss:
    """The recipe: ``MultiTaskLoss({"attributes": multi-label BCE, "mim": masked reconstruction,
    "contrastive": symmetric InfoNCE})`` with ``weights`` (default 1 each; 0 disables a task).

    Inputs: ``{"attributes": (logits, labels), "mim": (pred, target, mask), "contrastive": (z1, z2)}``.
    """
    return MultiTaskLoss({"attributes": {"type": "multilabel_bce"},
                          "mim": {"type": "masked_reconstruction", "norm_target": norm_target},
                          "contrastive": {"type": "infonce", "temperature": temperature}}, weights)
