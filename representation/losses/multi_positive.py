"""Multi-positive InfoNCE and the symmetric CLIP pair loss, both on the soft-CE primitive.

* :func:`multi_positive_nce`: each query row spreads its target mass uniformly over its
  positive columns (``positives`` [N, M] bool or non-negative weights); the rest of the
  valid columns are negatives. One positive per row is plain InfoNCE; several positives
  per row is the multi-positive loss used by SupCon ("L_out") and DreamLIP (image -> its K
  sub-captions).
* :func:`clip_pair_loss`: the symmetric CLIP loss between paired ``a`` [N, D] and ``b``
  [N, D] (row i of ``a`` matches row i of ``b``), distributed through
  :mod:`representation.distributed.gather` with open_clip's local-loss semantics, with
  optional label smoothing (used by the CL2L recipe) and extra negative key columns.

CL2L, NegCLIP and DreamLIP build on these two (they need label smoothing and rank-local
hard-negative columns, which :class:`representation.losses.infonce.InfoNCELoss` does not
offer); :func:`clip_pair_loss` equals
``(F.cross_entropy(s*a@b.T, arange) + F.cross_entropy(s*b@a.T, arange)) / 2`` in one process.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec, gather_features, world
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import LossBase


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


def _smoothed_one_hot(labels: torch.Tensor, m: int, smoothing: float, dtype: torch.dtype,
                      mask: torch.Tensor | None) -> torch.Tensor:
    """[N, m] targets ``(1 - eps) * onehot + eps / (#valid columns)`` (torch's label smoothing)."""
    one_hot = F.one_hot(labels, m).to(dtype)
    if smoothing == 0.0:
        return one_hot
    valid = torch.ones_like(one_hot) if mask is None else mask.to(dtype)
    uniform = valid / valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    return (1.0 - smoothing) * one_hot + smoothing * uniform


def one_direction_loss(q: torch.Tensor, k: torch.Tensor, scale: torch.Tensor | float, *,
                       extra_k: torch.Tensor | None = None, extra_valid: torch.Tensor | None = None,
                       label_smoothing: float = 0.0, spec: GatherSpec = GatherSpec(),
                       reduction: str = "mean") -> torch.Tensor:
    """InfoNCE of local queries ``q`` [n, D] against the gathered keys ``k`` (+ extra columns).

    Row i's positive is gathered key ``rank * n + i`` (local loss). ``extra_k`` [E, D] are
    further (hard-negative) key columns appended after the gathered keys, local to this rank;
    ``extra_valid`` [E] bool removes some of them from every row (e.g. a caption that could
    not be perturbed). Logits are ``scale * q @ keys.T``: pass L2-normalised features for
    cosine similarities.
    """
    keys = gather_features(k, spec)
    logits = scale * q @ keys.T
    mask = None
    if extra_k is not None:
        logits = torch.cat([logits, scale * q @ extra_k.T], dim=1)
        if extra_valid is not None:
            mask = torch.cat([torch.ones(q.shape[0], keys.shape[0], dtype=torch.bool, device=q.device),
                              extra_valid.to(device=q.device, dtype=torch.bool).unsqueeze(0).expand(q.shape[0], -1)],
                             dim=1)
    labels = torch.arange(q.shape[0], device=q.device) + world()[0] * q.shape[0]  # rank-offset positives
    targets = _smoothed_one_hot(labels, logits.shape[1], label_smoothing, logits.dtype, mask)
    return soft_cross_entropy(logits, targets, mask, reduction=reduction)


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
            perturbed captions: ``a`` = images gives [n, W*n + E] logits, labels unchanged).
        extra_b_valid: [E] bool, False removes that extra column.
        extra_a, extra_a_valid: the same for the ``b -> a`` direction (hard-negative images).
        spec: gather semantics; the loss always uses local queries against gathered keys,
            so under DDP each rank's loss is that of its own rows (``with_grad=True`` makes
            the summed gradient equal to single-process full-batch training).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must both be [n, D], got {tuple(a.shape)} and {tuple(b.shape)}")
    la = one_direction_loss(a, b, scale, extra_k=extra_b, extra_valid=extra_b_valid,
                            label_smoothing=label_smoothing, spec=spec)
    lb = one_direction_loss(b, a, scale, extra_k=extra_a, extra_valid=extra_a_valid,
                            label_smoothing=label_smoothing, spec=spec)
    return 0.5 * (la + lb)


class MultiPositiveLoss(LossBase):
    """Multi-positive InfoNCE between queries ``q`` [N, D] and keys ``k`` [M, D].

    ``forward(q, k, *, targets, mask=None, logit_scale=None, return_dict=False)`` with
    ``targets`` [N, M] bool positives (or non-negative weights). ``symmetric=True`` adds
    the key -> query direction with the transposed targets and averages the two (columns
    without any positive are skipped in that direction). Features are L2-normalised when
    ``normalize=True`` (cosine logits times the scale).
    """

    name = "multi_positive"
    citation = ("Khosla et al., Supervised Contrastive Learning, NeurIPS 2020 (multi-positive form); "
                "Zheng et al., DreamLIP: Language-Image Pre-training with Long Captions, ECCV 2024")
    config_keys = ("symmetric", "normalize")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 symmetric: bool = False, normalize: bool = True) -> None:
        super().__init__(temperature, learn_scale)
        self.symmetric = symmetric
        self.normalize = normalize

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: torch.Tensor,
                mask: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                logit_bias: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if self.normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        logits = self.resolve_scale(logit_scale) * q @ k.T
        if logit_bias is not None:
            logits = logits + logit_bias
        loss = multi_positive_nce(logits, targets, mask)
        if self.symmetric:
            mask_t = None if mask is None else mask.T
            loss = 0.5 * (loss + multi_positive_nce(logits.T, targets.T, mask_t))
        return self.output(loss, return_dict)

