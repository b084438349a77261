"""Hydra / SimLAP gated class-pair contrastive loss.

Anchor i has label ``y1_i`` and a partner class ``y2_i``; the gate ``g_i = g(y1_i, y2_i)`` [D]
defines the subspace. With ``a_i = normalize(z_i ⊙ g_i)`` and ``b_ij = normalize(k_j ⊙ g_i)`` the
logits are ``s_ij = scale · <a_i, b_ij>`` [N, M] (computed without an [N, M, D] tensor).

* positives of row i: columns j with ``label_j == y2_i`` (excluding the anchor itself when
  ``q`` and ``k`` are the same batch);
* negatives: columns whose label is neither ``y1_i`` nor ``y2_i``; other columns of class
  ``y1_i`` are left out of row i entirely (they are neither pulled nor pushed);
* ``denominator="supcon"``: ``−mean_{p∈P_i} log(e^{s_ip} / Σ_{j∈P_i∪N_i} e^{s_ij})`` (multi-positive
  InfoNCE via ``soft_cross_entropy``); with g = 1 and y2 = y1 this *is* SupCon (L_out);
  ``"per_positive"``: each positive competes only with the negatives,
  ``−mean_p log(e^{s_ip} / (e^{s_ip} + Σ_{n∈N_i} e^{s_in}))`` as in the reference ``multipos_ce_loss``.

:class:`HydraLoss` adds the detached linear-probe CE (``probe_loss``) when given probe features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.functional.soft_ce import soft_cross_entropy
from representation.heads.gate import HYDRA_CITATION, GateFilter
from representation.losses.base import LossBase


def gated_cosine_logits(z: torch.Tensor, keys: torch.Tensor, gate: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``cos(z_i ⊙ g_i, k_j ⊙ g_i)`` [N, M] for z [N, D], keys [M, D], gate [N, D]."""
    g2 = gate * gate
    num = (z * g2) @ keys.T
    q_norm = (z * gate).norm(dim=1, keepdim=True)
    k_norm = (g2 @ (keys * keys).T).clamp_min(0).sqrt()
    return num / (q_norm * k_norm).clamp_min(eps)


def hydra_masks(y1: torch.Tensor, y2: torch.Tensor, key_labels: torch.Tensor,
                self_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive [N, M], negative [N, M]) bool masks; ``self_mask`` [N, M] marks anchor = key."""
    pos = y2.unsqueeze(1) == key_labels.unsqueeze(0)
    neg = ~(pos | (y1.unsqueeze(1) == key_labels.unsqueeze(0)))
    if self_mask is not None:
        pos = pos & ~self_mask
        neg = neg & ~self_mask
    return pos, neg


def hydra_contrastive_loss(logits: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                           denominator: str = "supcon") -> torch.Tensor:
    """Mean over anchors with ≥1 positive of the multi-positive loss (see module docstring)."""
    if denominator == "supcon":
        return soft_cross_entropy(logits, pos.to(logits.dtype), pos | neg)
    if denominator == "per_positive":
        neg_lse = torch.logsumexp(logits.masked_fill(~neg, float("-inf")), dim=1, keepdim=True)
        per_pair = torch.logaddexp(logits, neg_lse.expand_as(logits)) - logits  # -log p per column
        per_row = (per_pair * pos).sum(dim=1) / pos.sum(dim=1).clamp_min(1)
        has = pos.any(dim=1)
        return per_row[has].sum() / has.sum().clamp_min(1)
    raise ValueError(f"denominator must be 'supcon' or 'per_positive', got {denominator!r}")


def sample_partner_labels(labels: torch.Tensor, mode: str, num_classes: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Partner classes y2 [N]: ``identical`` (y1), ``arbitrary`` (labels of a random permutation of
    the batch, as in SimLAP) or ``distinct`` (a random different class)."""
    if mode == "identical":
        return labels.clone()
    if mode == "arbitrary":
        perm = torch.randperm(labels.shape[0], generator=generator).to(labels.device)
        return labels[perm]
    if mode == "distinct":
        shift = torch.randint(1, num_classes, labels.shape, generator=generator).to(labels.device)
        return (labels + shift) % num_classes
    raise ValueError(f"mode must be identical, arbitrary or distinct, got {mode!r}")


class HydraLoss(LossBase):
    """Gated class-pair contrastive loss with an optional detached linear probe.

    Args:
        num_classes: number of classes (label embedding and probe size).
        dim: projected feature width D.
        temperature / learn_scale: see ``LossBase`` (SimLAP uses τ = 0.1).
        partner: how y2 is drawn when not given: ``arbitrary`` | ``identical`` | ``distinct``.
        denominator: ``supcon`` | ``per_positive`` (module docstring).
        probe_dim: input width of the linear probe (None: no probe).
        open_gate: g = 1 (baseline).

    Forward: ``z`` [N, D] anchors, ``labels`` [N]; ``keys`` [M, D] and ``key_labels`` [M] default to
    ``z`` / ``labels`` (same batch, the diagonal is excluded); ``partner_labels`` [N] optional;
    ``probe_features`` [N, probe_dim] optional (detached inside); ``self_index`` [N]: column of
    each anchor's own key when ``keys`` are given and contain the anchors (e.g. keys gathered
    across ranks with ``gather_features`` and ``self_index = rank_offset_labels(N)``). Dict output: ``hydra_loss`` and,
    with a probe, ``probe_loss``.
    """

    name = "hydra"
    citation = HYDRA_CITATION
    config_keys = ("num_classes", "dim", "partner", "denominator", "probe_dim")

    def __init__(self, num_classes: int, dim: int, temperature: float | None = 0.1, learn_scale: bool = False,
                 partner: str = "arbitrary", denominator: str = "supcon", probe_dim: int | None = None,
                 open_gate: bool = False, gate_embed_dim: int = 64, gate_hidden: int = 128) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale)
        if partner not in ("arbitrary", "identical", "distinct"):
            raise ValueError(f"partner must be arbitrary, identical or distinct, got {partner!r}")
        if denominator not in ("supcon", "per_positive"):
            raise ValueError(f"denominator must be 'supcon' or 'per_positive', got {denominator!r}")
        self.num_classes, self.dim, self.partner, self.denominator = num_classes, dim, partner, denominator
        self.probe_dim = probe_dim
        self.gate = GateFilter(num_classes, dim, gate_embed_dim, gate_hidden, open_gate=open_gate)
        self.probe = nn.Linear(probe_dim, num_classes) if probe_dim is not None else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor, *, keys: torch.Tensor | None = None,
                key_labels: torch.Tensor | None = None, partner_labels: torch.Tensor | None = None,
                probe_features: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                self_index: torch.Tensor | None = None, generator: torch.Generator | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        same_batch = keys is None
        keys = z if keys is None else keys
        key_labels = labels if key_labels is None else key_labels
        y2 = partner_labels if partner_labels is not None else sample_partner_labels(
            labels, self.partner, self.num_classes, generator)
        gate = self.gate(labels, y2)
        logits = self.resolve_scale(logit_scale) * gated_cosine_logits(z, keys, gate)
        self_mask = None
        if self_index is not None:  # e.g. rank_offset_labels(N) when keys are gathered across ranks
            self_mask = torch.zeros(z.shape[0], keys.shape[0], dtype=torch.bool, device=z.device)
            self_mask[torch.arange(z.shape[0], device=z.device), self_index.to(z.device)] = True
        elif same_batch:
            self_mask = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
        pos, neg = hydra_masks(labels, y2, key_labels, self_mask)
        loss = hydra_contrastive_loss(logits, pos, neg, self.denominator)
        if not return_dict:
            if self.probe is not None and probe_features is not None:
                return loss + F.cross_entropy(self.probe(probe_features.detach()), labels)
            return loss
        out = self.output(loss, True, gate_mean=gate.mean(), positives_per_row=pos.sum(1).float().mean())
        if self.probe is not None and probe_features is not None:
            out["probe_loss"] = F.cross_entropy(self.probe(probe_features.detach()), labels)
        return out
