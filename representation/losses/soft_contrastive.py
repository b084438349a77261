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

It is :class:`~representation.losses.infonce.InfoNCELoss` with targets built from labels by a
kernel (same engine, same gather, same DDP normalisation); under DDP the labels are gathered
and the kernel builds the global targets.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed import GatherSpec, gather
from representation.distributed.blocks import Dense
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import SCALE_KEYS
from representation.losses.infonce import InfoNCELoss
from representation.registry import register


def soft_contrastive_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
                          *, symmetric: bool = True, targets_t: torch.Tensor | None = None) -> torch.Tensor:
    """Single-process soft contrastive loss from precomputed ``logits`` [N, M] and ``targets`` [N, M].

    Targets are row-normalised. The key -> query direction (``symmetric``) uses
    ``targets_t`` [M, N] (default ``targets.T``), also row-normalised.
    """
    loss = soft_cross_entropy(logits, targets, mask)
    if symmetric:
        t_t = targets.T if targets_t is None else targets_t
        loss = 0.5 * (loss + soft_cross_entropy(logits.T, t_t, None if mask is None else mask.T))
    return loss


@register("soft_contrastive", kind="loss")
class SoftContrastiveLoss(InfoNCELoss):
    """Dialog2Flow soft contrastive loss.

    ``forward(q [n, D], k [m, D], *, targets=None, labels=None, labels_k=None, mask=None,
    logit_scale=None, logit_bias=None, return_dict=False)``: give global ``targets`` [N, M], or
    this rank's ``labels`` [n] (and ``labels_k`` [m], default ``labels``) together with a
    ``kernel`` (a callable ``kernel(labels_q, labels_k) -> [N, M]``, e.g.
    :class:`~representation.targets.label_kernel.LabelEmbeddingKernel`) set at construction.
    Cosine logits (``similarity="cosine"``) times the scale; the paper uses ``tau = 0.05`` and
    ``tau_s = 0.25``.
    """

    name = "soft_contrastive"
    citation = ("Burdisso et al., Dialog2Flow: Pre-training Soft-Contrastive Action-Driven Sentence "
                "Embeddings for Automatic Dialog Flow Extraction, EMNLP 2024")
    config_keys = (*SCALE_KEYS, "symmetric", "similarity", "label_smoothing", "gather")
    runtime_keys = ("kernel",)

    def __init__(self, temperature: float | None = 0.05, learn_scale: bool = False, *,
                 kernel: nn.Module | None = None, symmetric: bool = True, similarity: str = "cosine",
                 label_smoothing: float = 0.0, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale, symmetric=symmetric,
                         similarity=similarity, label_smoothing=label_smoothing, gather=gather, max_scale=max_scale,
                         init_temperature=init_temperature)
        if learn_scale:  # the default fixed temperature gives way to the learnable scale
            self.temperature = None
        self.kernel = kernel

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: Dense = None, labels: torch.Tensor | None = None,
                labels_k: torch.Tensor | None = None, mask: Dense = None, targets_t: Dense = None,
                logit_scale: torch.Tensor | float | None = None, logit_bias: torch.Tensor | float | None = None,
                return_dict: bool = False, **kw: Any) -> torch.Tensor | dict[str, Any]:
        if targets is None:
            if labels is None or self.kernel is None:
                raise ValueError("give targets, or labels with a kernel set at construction")
            labels_k = labels if labels_k is None else labels_k
            with torch.no_grad():
                all_q = gather(labels, self.gather).tensor
                all_k = gather(labels_k, self.gather).tensor
                targets = self.kernel(all_q, all_k)
                if self.symmetric and targets_t is None:
                    targets_t = self.kernel(all_k, all_q)
        return super().forward(q, k, targets=targets, mask=mask, targets_t=targets_t, logit_scale=logit_scale,
                               logit_bias=logit_bias, return_dict=return_dict, **kw)

