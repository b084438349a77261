"""Dialog2Flow soft targets from a frozen label encoder (Burdisso et al., EMNLP 2024).

``t_ij = softmax_j( cos(e_{y_i}, e_{y_j}) / tau_s )`` where ``e_c`` is the (frozen)
embedding of label ``c`` (e.g. a sentence embedding of the label name, or of a place
name). Rows sum to 1. As ``tau_s -> 0`` the mass concentrates uniformly on the columns
whose label embedding is most similar (the same label), i.e. hard SupCon targets.
For geography, swap this kernel for
:func:`representation.targets.geo.haversine_kernel_targets` (``softmax_j(-d_ij / tau_km)``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register


def label_embedding_kernel_targets(emb_q: torch.Tensor, emb_k: torch.Tensor, temperature: float,
                                   *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-stochastic targets [N, M] = ``softmax_j(cos(emb_q[i], emb_k[j]) / temperature)``.

    Args:
        emb_q: [N, E] label embeddings of the query rows.
        emb_k: [M, E] label embeddings of the key columns.
        temperature: ``tau_s`` > 0 (Dialog2Flow uses 0.25 when ``tau`` is 0.05).
        mask: optional [N, M] bool; False columns get 0 target mass (the softmax runs over
            the valid columns only; a row without valid columns is all 0).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if emb_q.dim() != 2 or emb_k.dim() != 2 or emb_q.shape[1] != emb_k.shape[1]:
        raise ValueError(f"expected emb_q [N, E] and emb_k [M, E], got {tuple(emb_q.shape)}, {tuple(emb_k.shape)}")
    cos = F.normalize(emb_q, dim=1) @ F.normalize(emb_k, dim=1).T
    logits = cos / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask.to(torch.bool), float("-inf"))
    t = torch.softmax(logits, dim=1)
    return torch.nan_to_num(t, nan=0.0)


@register("label_embedding_kernel", kind="target")
class LabelEmbeddingKernel(nn.Module):
    """Frozen label-embedding table that builds Dialog2Flow targets from integer labels.

    Args:
        label_embeddings: [C, E] one embedding per label id (stored as a buffer; no grad).
        temperature: ``tau_s``.

    ``kernel(labels_q [N], labels_k [M] | None) -> [N, M]`` row-stochastic targets
    (``labels_k`` defaults to ``labels_q``).
    """

    citation = ("Burdisso et al., Dialog2Flow: Pre-training Soft-Contrastive Action-Driven Sentence "
                "Embeddings for Automatic Dialog Flow Extraction, EMNLP 2024")

    def __init__(self, label_embeddings: torch.Tensor, temperature: float = 0.25) -> None:
        super().__init__()
        if label_embeddings.dim() != 2:
            raise ValueError(f"label_embeddings must be [C, E], got {tuple(label_embeddings.shape)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.register_buffer("label_embeddings", label_embeddings.detach().clone())
        self.temperature = float(temperature)

    def forward(self, labels_q: torch.Tensor, labels_k: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        labels_k = labels_q if labels_k is None else labels_k
        n_cls = self.label_embeddings.shape[0]
        for name, lab in (("labels_q", labels_q), ("labels_k", labels_k)):
            if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= n_cls):
                raise ValueError(f"{name} must be label ids in [0, {n_cls})")
        return label_embedding_kernel_targets(self.label_embeddings[labels_q.long()],
                                              self.label_embeddings[labels_k.long()], self.temperature,
                                              mask=mask)

    runtime_keys = ("label_embeddings",)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature}
