"""Multi-positive InfoNCE and the symmetric CLIP pair loss, both on the shared engine.

* :func:`multi_positive_nce`: single-process: each query row spreads its target mass uniformly
  over its positive columns (``positives`` [N, M] bool or non-negative weights); the rest of the
  valid columns are negatives. One positive per row is plain InfoNCE; several positives per row
  is the multi-positive loss of SupCon ("L_out") and DreamLIP (image -> its K sub-captions).
* :func:`clip_pair_loss`: the symmetric CLIP loss between paired ``a`` [n, D] and ``b`` [n, D]
  (row i of ``a`` matches row i of ``b``), gathered with ``GatherSpec`` semantics, with optional
  label smoothing (CL2L) and extra negative columns (NegCLIP); it is
  :func:`representation.losses.engine.contrastive_loss` with ``symmetric=True`` and equals
  ``(F.cross_entropy(s*a@b.T, arange) + F.cross_entropy(s*b@a.T, arange)) / 2`` in one process.
* :class:`MultiPositiveLoss`: :class:`~representation.losses.infonce.InfoNCELoss` whose targets
  are positives (one-directional by default).
"""

from __future__ import annotations

from typing import Any

import torch

from representation.distributed.gather import GatherSpec
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import SCALE_KEYS
from representation.losses.engine import contrastive_loss
from representation.losses.infonce import InfoNCELoss
from representation.registry import register


def multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor, mask: torch.Tensor | None = None,
                       *, reduction: str = "mean") -> torch.Tensor:
    """Multi-positive InfoNCE ``-sum_j t_ij log softmax_j(logits_i)`` with ``t_i`` uniform
    over the positives of row i (or proportional to non-negative weights).

    Args:
        logits: [N, M] scaled similarities.
        positives: [N, M] bool (uniform over True) or float weights (row-normalised).
        mask: optional [N, M] bool of valid columns (False: removed from the softmax).
        reduction: "mean" over rows that have a positive, "sum", or "none" ([N]).
    """
    return soft_cross_entropy(logits, positives.to(logits.dtype), mask, reduction=reduction)


def clip_pair_loss(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float, *,
                   label_smoothing: float = 0.0, extra_b: torch.Tensor | None = None,
                   extra_b_valid: torch.Tensor | None = None, extra_a: torch.Tensor | None = None,
                   extra_a_valid: torch.Tensor | None = None, spec: GatherSpec = GatherSpec(),
                   ) -> torch.Tensor:
    """Symmetric CLIP loss ``(CE(a -> b) + CE(b -> a)) / 2`` for paired rows.

    Args:
        a, b: [n, D] local paired features (normalise them first for cosine logits).
        scale: logit scale (1 / temperature).
        label_smoothing: torch-style smoothing over the valid columns (0 = plain CE).
        extra_b: [E, D] hard-negative ``b`` columns for the ``a -> b`` direction (NegCLIP's
            perturbed captions: ``a`` = images gives [n, W*n + W*E] logits, labels unchanged);
            gathered across ranks like the keys.
        extra_b_valid: [E] bool, False removes that extra column.
        extra_a, extra_a_valid: the same for the ``b -> a`` direction (hard-negative images).
        spec: gather semantics (``local_loss`` honoured).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must both be [n, D], got {tuple(a.shape)} and {tuple(b.shape)}")
    loss, _ = contrastive_loss(a, b, scale=scale, negatives=extra_b, negatives_valid=extra_b_valid, symmetric=True,
                               negatives_t=extra_a, negatives_t_valid=extra_a_valid,
                               label_smoothing=label_smoothing, spec=spec)
    return loss


@register("multi_positive", kind="loss")
class MultiPositiveLoss(InfoNCELoss):
    """Multi-positive InfoNCE between queries ``q`` [n, D] and keys ``k`` [m, D].

    ``forward(q, k, *, targets, mask=None, logit_scale=None, return_dict=False)`` with global
    ``targets`` [N, M] bool positives (or non-negative weights). ``symmetric=True`` adds the
    key -> query direction with the transposed targets and averages the two (columns without
    any positive are skipped in that direction). Cosine similarity by default.
    """

    name = "multi_positive"
    citation = ("Khosla et al., Supervised Contrastive Learning, NeurIPS 2020 (multi-positive form); "
                "Zheng et al., DreamLIP: Language-Image Pre-training with Long Captions, ECCV 2024")
    config_keys = (*SCALE_KEYS, "symmetric", "similarity", "label_smoothing", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 symmetric: bool = False, similarity: str = "cosine", label_smoothing: float = 0.0,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, symmetric=symmetric, similarity=similarity,
                         label_smoothing=label_smoothing, gather=gather, max_scale=max_scale,
                         init_temperature=init_temperature)

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: Any, **kw: Any) -> torch.Tensor | dict[str, Any]:
        if targets is None:
            raise ValueError("MultiPositiveLoss needs targets (the positives)")
        if torch.is_tensor(targets):
            targets = targets.to(q.dtype)
        return super().forward(q, k, targets=targets, **kw)
