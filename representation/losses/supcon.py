"""Supervised contrastive loss (SupCon, Khosla et al. 2020) on the shared engine.

For anchors ``a`` (every view of every sample) and candidates ``A(a)`` = all other views in
the (gathered) batch, SupCon's "L_out" form is

    L_a = -1/|P(a)| * sum_{p in P(a)} log( exp(s_ap) / sum_{c in A(a)} exp(s_ac) ),

i.e. soft cross-entropy with targets uniform over the positives ``P(a)`` (same label,
self excluded) and the anchor's own column removed from the softmax. Graded targets
(SPACE-2's hierarchy Jaccard scores, Dialog2Flow's label kernel) replace the uniform
same-label targets by non-negative weights: ``t_ac ∝ w(label_a, label_c)``, self excluded.
With ``labels=None`` and ``targets=None`` the positives are the other views of the same
sample (SimCLR / NT-Xent).

Anchors without any positive contribute 0 and are left out of the mean (Khosla's
reference code returns NaN for them); the mean runs over the anchors with a positive of
ALL ranks (:func:`representation.distributed.rank_mean`), so DDP equals full-batch training
whatever the number of such anchors per rank.

Targets and masks are sample-level GLOBAL matrices [N, N] over the gathered batch (the
library's one convention), expanded here to all view pairs. A cross-batch memory (``memory``
[Q, D] with ``memory_labels`` [Q], replicated on every rank) adds Q candidate columns.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import Dense
from representation.distributed.gather import GatherSpec, Layout, gather, gather_sizes, world
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import contrastive_loss
from representation.registry import register
from representation.targets.labels import same_label_targets

_LABEL_SPEC = GatherSpec(local_loss=False, with_grad=False)


def _as_views(features: torch.Tensor) -> torch.Tensor:
    if features.dim() == 2:
        return features.unsqueeze(1)
    if features.dim() == 3:
        return features
    raise ValueError(f"features must be [N, D] or [N, V, D], got {tuple(features.shape)}")


def supcon_loss(features: torch.Tensor, labels: torch.Tensor | None = None, *,
                targets: Dense = None, scale: torch.Tensor | float = 1 / 0.07,
                mask: Dense = None, memory: torch.Tensor | None = None, memory_labels: torch.Tensor | None = None,
                spec: GatherSpec = GatherSpec(), reduction: str = "mean") -> torch.Tensor:
    """SupCon ("L_out") over this rank's ``features`` [n, V, D] (or [n, D], one view).

    Args:
        features: local features; cosine logits are ``scale * <f_a, f_c>`` so pass
            L2-normalised rows (:class:`SupConLoss` normalises for you).
        labels: [n] integer labels (or [n, L] label tuples) of this rank; positives share the
            label (gathered across ranks here).
        targets: GLOBAL [N, N] (+ Q memory columns) non-negative sample-level weights instead of
            ``labels`` (graded positives), or a row callable; expanded to all view pairs.
        scale: logit scale (1 / temperature).
        mask: optional GLOBAL [N, N (+ Q)] bool sample-level validity (False: that candidate is
            neither a negative nor a positive for that anchor, e.g. a false-negative mask).
        memory, memory_labels: replicated extra candidates [Q, D] and their labels [Q]
            (XBM); with ``labels=None`` memory entries are negatives.
        spec: gather semantics (``local_loss`` False: every rank scores all anchors).
        reduction: "mean" (over anchors with a positive, all ranks) or "none" ([R * V] per
            scored anchor row, sample-major: row ``i * V + v``; 0 for anchors without positive).

    Returns:
        the loss (scalar, or per-row losses).
    """
    feats = _as_views(features)
    n, v, d = feats.shape
    rank, size = world()
    sizes = gather_sizes(n, device=feats.device)[0] if size > 1 else (n,)
    layout = Layout(sizes, rank)
    n_all = layout.total
    q_mem = 0 if memory is None else memory.shape[0]
    if memory is not None and memory.shape[-1] != d:
        raise ValueError(f"memory must be [Q, {d}], got {tuple(memory.shape)}")
    device = feats.device
    if targets is None:
        if labels is None:
            def sample_targets(rows: torch.Tensor) -> torch.Tensor:
                t = torch.zeros(rows.numel(), n_all + q_mem, dtype=feats.dtype, device=device)
                t[torch.arange(rows.numel(), device=device), rows] = 1.0
                return t
        else:
            all_labels = gather(labels, _LABEL_SPEC, sizes=sizes).tensor
            key_labels = all_labels
            if memory is not None:
                if memory_labels is None:
                    raise ValueError("memory with labels needs memory_labels [Q]")
                key_labels = torch.cat([all_labels, memory_labels.to(all_labels.device, all_labels.dtype)])

            def sample_targets(rows: torch.Tensor) -> torch.Tensor:
                return same_label_targets(all_labels[rows], key_labels, dtype=feats.dtype)
    else:
        if torch.is_tensor(targets):
            if tuple(targets.shape) != (n_all, n_all + q_mem):
                raise ValueError(f"targets must be the global [{n_all}, {n_all + q_mem}] sample-level matrix "
                                 f"(all ranks' samples, then memory columns), got {tuple(targets.shape)}")
            if bool((targets < 0).any()):
                raise ValueError("targets must be non-negative")
            t_global = targets

            def sample_targets(rows: torch.Tensor) -> torch.Tensor:
                return t_global[rows].to(feats.dtype)
        else:
            sample_targets = targets
    if mask is not None and torch.is_tensor(mask) and tuple(mask.shape) != (n_all, n_all + q_mem):
        raise ValueError(f"mask must be the global [{n_all}, {n_all + q_mem}] sample-level matrix, "
                         f"got {tuple(mask.shape)}")

    def expand(block: torch.Tensor) -> torch.Tensor:  # sample columns -> view columns, memory kept
        keys = block[:, :n_all].repeat_interleave(v, dim=1)
        return torch.cat([keys, block[:, n_all:]], dim=1) if q_mem else keys

    def view_targets(rows_v: torch.Tensor) -> torch.Tensor:
        return expand(sample_targets(rows_v // v))

    def view_mask(rows_v: torch.Tensor) -> torch.Tensor:
        keep = torch.ones(rows_v.numel(), n_all * v + q_mem, dtype=torch.bool, device=device)
        keep[torch.arange(rows_v.numel(), device=device), rows_v] = False  # the anchor itself
        if mask is not None:
            sample_mask = mask(rows_v // v) if not torch.is_tensor(mask) else mask[rows_v // v]
            keep &= expand(sample_mask.to(torch.bool))
        return keep

    flat = feats.reshape(n * v, d)
    loss, _ = contrastive_loss(flat, flat, scale=scale, targets=view_targets, mask=view_mask, memory=memory,
                               spec=spec, reduction=reduction)
    return loss


@register("supcon", kind="loss")
class SupConLoss(LossBase):
    """Supervised contrastive loss (module shell over :func:`supcon_loss`).

    ``forward(features [n, D] or [n, V, D], labels=None, *, targets=None, mask=None,
    memory=None, memory_labels=None, logit_scale=None, return_dict=False)``. Features are
    L2-normalised when ``normalize=True``. Default temperature 0.07 (the paper uses 0.1 for
    ImageNet).

    Example::

        loss = SupConLoss(temperature=0.1)(torch.stack([z1, z2], dim=1), labels)
    """

    name = "supcon"
    citation = "Khosla et al., Supervised Contrastive Learning, NeurIPS 2020"
    config_keys = (*SCALE_KEYS, "normalize", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 normalize: bool = True, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.normalize = bool(normalize)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None, *,
                targets: Dense = None, mask: Dense = None, memory: torch.Tensor | None = None,
                memory_labels: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if self.normalize:
            features = F.normalize(features, dim=-1)
            memory = None if memory is None else F.normalize(memory, dim=-1)
        loss = supcon_loss(features, labels, targets=targets, scale=self.resolve_scale(logit_scale), mask=mask,
                           memory=memory, memory_labels=memory_labels, spec=self.gather)
        return self.output(loss, return_dict)
