"""Hydra / SimLAP gated class-pair contrastive loss (reference: ``erow/vitookit`` ``simlap.py``).

Anchor i has label ``y1_i`` and a partner class ``y2_i``; the gate ``g_i = g(y1_i, y2_i)`` [D]
(:class:`~representation.heads.gate.GateFilter`) defines the subspace. Keys are all gathered
anchors (``k_j``, labels ``y_j``). As in the reference's active code:

* logits ``s_ij = scale · <ẑ_i ⊙ g_i², k̂_j>`` on unit-norm ẑ, k̂ (no renormalisation after
  gating; ``logits="renormalized"`` gives the library's earlier ``cos(z_i ⊙ g_i, k_j ⊙ g_i)``);
* positives of row i: keys with ``y_j == y2_i`` (the anchor itself included when y2 = y1, as
  upstream; ``exclude_self=True`` removes it); negatives: keys whose label is neither ``y1_i``
  nor ``y2_i`` (other keys of class ``y1_i`` are neither pulled nor pushed);
* ``denominator="per_positive"``: each positive pair competes only with the row's negatives,
  ``ℓ_ip = log(e^{s_ip} + Σ_{n∈N_i} e^{s_in}) − s_ip``, and the loss is the sum over ALL positive
  pairs divided by the number of positive pairs (pair-weighted, ``multipos_ce_loss``), over all
  ranks (:func:`representation.distributed.rank_mean`);
  ``"supcon"``: all positives share one softmax (multi-positive soft-CE, mean over anchors with
  a positive); with g = 1, y2 = y1 and ``exclude_self=True`` this is SupCon (L_out).

:class:`HydraLoss` adds the detached linear-probe CE (``probe_loss``) when given probe features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec, gather
from representation.distributed.reduce import masked_mean, rank_mean
from representation.functional.soft_ce import masked_logsumexp, soft_cross_entropy
from representation.heads.gate import HYDRA_CITATION, GateFilter
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.registry import register

_LABELS = GatherSpec(local_loss=False, with_grad=False)


def gated_logits(z: torch.Tensor, keys: torch.Tensor, gate: torch.Tensor, form: str = "reference",
                 eps: float = 1e-12) -> torch.Tensor:
    """Unscaled gated similarities [N, M] for z [N, D], keys [M, D], gate [N, D].

    ``"reference"``: ``<ẑ ⊙ g², k̂>``; ``"renormalized"``: ``cos(z ⊙ g, k ⊙ g)`` (no [N, M, D] tensor).
    """
    if form == "reference":
        return (F.normalize(z, dim=-1) * gate * gate) @ F.normalize(keys, dim=-1).T
    if form == "renormalized":
        g2 = gate * gate
        num = (z * g2) @ keys.T
        q_norm = (z * gate).norm(dim=1, keepdim=True)
        k_norm = (g2 @ (keys * keys).T).clamp_min(0).sqrt()
        return num / (q_norm * k_norm).clamp_min(eps)
    raise ValueError(f"form must be 'reference' or 'renormalized', got {form!r}")


def hydra_masks(y1: torch.Tensor, y2: torch.Tensor, key_labels: torch.Tensor,
                self_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive [N, M], negative [N, M]) bool masks; ``self_mask`` [N, M] (anchor = key) is
    removed from both."""
    pos = y2.unsqueeze(1) == key_labels.unsqueeze(0)
    neg = ~(pos | (y1.unsqueeze(1) == key_labels.unsqueeze(0)))
    if self_mask is not None:
        pos = pos & ~self_mask
        neg = neg & ~self_mask
    return pos, neg


def hydra_terms(logits: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, denominator: str = "per_positive"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of this rank's loss terms, number of terms): pairs for ``per_positive``, anchors with a
    positive for ``supcon``. Divide with :func:`rank_mean` (or by the count in one process)."""
    if denominator == "per_positive":
        neg_lse = masked_logsumexp(logits, neg).unsqueeze(1)
        per_pair = torch.logaddexp(logits, neg_lse.expand_as(logits)) - logits  # -log p(positive pair)
        total = torch.where(pos, per_pair, torch.zeros_like(per_pair)).sum()
        return total, pos.sum()
    if denominator == "supcon":
        rows = soft_cross_entropy(logits, pos.to(logits.dtype), pos | neg, reduction="none")
        has = pos.any(dim=1)
        return torch.where(has, rows, torch.zeros_like(rows)).sum(), has.sum()
    raise ValueError(f"denominator must be 'per_positive' or 'supcon', got {denominator!r}")


def hydra_contrastive_loss(logits: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                           denominator: str = "per_positive") -> torch.Tensor:
    """Single-process Hydra loss (see :func:`hydra_terms`)."""
    total, count = hydra_terms(logits, pos, neg, denominator)
    return total / count.clamp_min(1)


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


@register("hydra", kind="loss")
class HydraLoss(LossBase):
    """Gated class-pair contrastive loss with an optional detached linear probe.

    Args:
        num_classes: number of classes (label embedding and probe size).
        dim: projected feature width D.
        temperature / learn_scale: see ``LossBase`` (SimLAP uses τ = 0.1).
        partner: how y2 is drawn when not given: ``arbitrary`` | ``identical`` | ``distinct``.
        denominator: ``per_positive`` (reference) | ``supcon`` (module docstring).
        logits: ``reference`` | ``renormalized``; exclude_self: drop the anchor from its positives.
        probe_dim: input width of the linear probe (None: no probe).
        open_gate, gate_style, gate_embed_dim, gate_hidden: the :class:`GateFilter`.
        gather: ``GatherSpec``; keys are all ranks' anchors.

    Forward: ``z`` [n, D] this rank's anchors, ``labels`` [n]; ``partner_labels`` [n] optional;
    ``probe_features`` [n, probe_dim] optional (detached inside). Dict output: ``hydra_loss``
    and, with a probe, ``probe_loss``.
    """

    name = "hydra"
    citation = HYDRA_CITATION
    config_keys = ("num_classes", "dim", *SCALE_KEYS, "partner", "denominator", "logits", "exclude_self",
                   "probe_dim", "open_gate", "gate_style", "gate_embed_dim", "gate_hidden", "gather")

    def __init__(self, num_classes: int, dim: int, temperature: float | None = 0.1, learn_scale: bool = False,
                 partner: str = "arbitrary", denominator: str = "per_positive", logits: str = "reference",
                 exclude_self: bool = False, probe_dim: int | None = None, open_gate: bool = False,
                 gate_style: str = "reference", gate_embed_dim: int = 512, gate_hidden: int = 1024,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale, max_scale=max_scale,
                         init_temperature=init_temperature)
        if partner not in ("arbitrary", "identical", "distinct"):
            raise ValueError(f"partner must be arbitrary, identical or distinct, got {partner!r}")
        if denominator not in ("supcon", "per_positive"):
            raise ValueError(f"denominator must be 'supcon' or 'per_positive', got {denominator!r}")
        if logits not in ("reference", "renormalized"):
            raise ValueError(f"logits must be 'reference' or 'renormalized', got {logits!r}")
        self.num_classes, self.dim, self.partner, self.denominator = num_classes, dim, partner, denominator
        self.logits, self.exclude_self = logits, bool(exclude_self)
        self.probe_dim, self.open_gate, self.gate_style = probe_dim, bool(open_gate), gate_style
        self.gate_embed_dim, self.gate_hidden = gate_embed_dim, gate_hidden
        self.gather = GatherSpec.coerce(gather)
        self.gate = GateFilter(num_classes, dim, gate_embed_dim, gate_hidden, open_gate=open_gate, style=gate_style)
        self.probe = nn.Linear(probe_dim, num_classes) if probe_dim is not None else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor, *, partner_labels: torch.Tensor | None = None,
                probe_features: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                generator: torch.Generator | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        spec = self.gather
        y2 = partner_labels if partner_labels is not None else sample_partner_labels(
            labels, self.partner, self.num_classes, generator)
        rows, keys, layout, _ = gather_rows_and_keys(z, None, spec)
        key_labels = gather(labels, _LABELS, sizes=layout.sizes).tensor
        y1_rows, y2_rows = labels, y2
        if not spec.local_loss:
            y1_rows, y2_rows = key_labels, gather(y2, _LABELS, sizes=layout.sizes).tensor
        gate = self.gate(y1_rows, y2_rows)
        logits = self.resolve_scale(logit_scale) * gated_logits(rows, keys, gate, self.logits)
        self_mask = None
        if self.exclude_self:
            idx = global_rows(layout, spec, z.device)
            self_mask = torch.zeros_like(logits, dtype=torch.bool)
            self_mask[torch.arange(idx.numel(), device=z.device), idx] = True
        pos, neg = hydra_masks(y1_rows, y2_rows, key_labels, self_mask)
        total, count = hydra_terms(logits, pos, neg, self.denominator)
        loss = rank_mean(total, count, spec)
        probe = None
        if self.probe is not None and probe_features is not None:
            ce = F.cross_entropy(self.probe(probe_features.detach()), labels, reduction="none")
            probe = masked_mean(ce, None, GatherSpec())  # per local sample on every spec
        if not return_dict:
            return loss if probe is None else loss + probe
        out = self.output(loss, True, gate_mean=gate.mean(), positives_per_row=pos.sum(1).float().mean())
        if probe is not None:
            out["probe_loss"] = probe
        return out
