"""Dialog2Flow soft contrastive loss (Burdisso et al., EMNLP 2024).

``L = CE(s(q, k) / tau, T)`` with soft targets ``T`` [N, M] (rows sum to 1), e.g.
``softmax_j(cos(e_{y_i}, e_{y_j}) / tau_s)`` from a frozen label encoder
(:class:`representation.targets.label_kernel.LabelEmbeddingKernel`) or geographic
``softmax_j(-d_ij / tau_km)`` (:func:`representation.targets.geo.haversine_kernel_targets`).
``symmetric=True`` averages with the key -> query direction on ``s.T`` with the kernel
targets of the keys, ``kernel(labels_k, labels_q)`` (the reference reuses ``T``: the same
thing when queries and keys carry the same labels). Given explicit ``targets`` only, the
reverse direction uses ``targets.T`` row-normalised unless ``targets_t`` is passed.
Hard targets (same label, uniform) make this the two-view SupCon of the reference code.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import LossBase


def soft_contrastive_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
                          *, symmetric: bool = True, targets_t: torch.Tensor | None = None) -> torch.Tensor:
    """Soft contrastive loss from precomputed ``logits`` [N, M] and ``targets`` [N, M].

    Targets are row-normalised. The key -> query direction (``symmetric``) uses
    ``targets_t`` [M, N] (default ``targets.T``), also row-normalised.
    """
    loss = soft_cross_entropy(logits, targets, mask)
    if symmetric:
        t_t = targets.T if targets_t is None else targets_t
        loss = 0.5 * (loss + soft_cross_entropy(logits.T, t_t, None if mask is None else mask.T))
    return loss


class SoftContrastiveLoss(LossBase):
    """Dialog2Flow soft contrastive loss.

    ``forward(q [N, D], k [M, D], *, targets=None, labels=None, labels_k=None, mask=None,
    logit_scale=None, logit_bias=None, return_dict=False)``: give ``targets`` [N, M], or
    integer ``labels`` [N] (and ``labels_k`` [M], default ``labels``) together with a
    ``kernel`` (a callable ``kernel(labels_q, labels_k) -> [N, M]``, e.g.
    :class:`~representation.targets.label_kernel.LabelEmbeddingKernel`) set at
    construction. Cosine logits (``normalize=True``) times the scale; the paper uses
    ``tau = 0.05`` and ``tau_s = 0.25``.
    """

    name = "soft_contrastive"
    citation = ("Burdisso et al., Dialog2Flow: Pre-training Soft-Contrastive Action-Driven Sentence "
                "Embeddings for Automatic Dialog Flow Extraction, EMNLP 2024")
    config_keys = ("symmetric", "normalize")

    def __init__(self, temperature: float | None = 0.05, learn_scale: bool = False, *,
                 kernel: nn.Module | None = None, symmetric: bool = True, normalize: bool = True) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale)
        self.kernel = kernel
        self.symmetric = symmetric
        self.normalize = normalize

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, labels_k: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                logit_bias: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        targets_t = None
        if targets is None:
            if labels is None or self.kernel is None:
                raise ValueError("give targets, or labels with a kernel set at construction")
            labels_k = labels if labels_k is None else labels_k
            with torch.no_grad():
                targets = self.kernel(labels, labels_k)
                targets_t = self.kernel(labels_k, labels) if self.symmetric else None
        if self.normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        logits = self.resolve_scale(logit_scale) * q @ k.T
        if logit_bias is not None:
            logits = logits + logit_bias
        loss = soft_contrastive_loss(logits, targets.to(logits.dtype), mask, symmetric=self.symmetric,
                                     targets_t=None if targets_t is None else targets_t.to(logits.dtype))
        return self.output(loss, return_dict)

    def get_config_dict(self) -> dict[str, Any]:
        cfg = super().get_config_dict()
        if self.kernel is not None and hasattr(self.kernel, "get_config_dict"):
            cfg["kernel"] = self.kernel.get_config_dict()
        return cfg
