"""Supervised contrastive loss (SupCon, Khosla et al. 2020) on the soft-CE primitive.

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
reference code returns NaN for them).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec, gather_features, world
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import LossBase
from representation.targets.labels import same_label_targets

_LABEL_SPEC = GatherSpec(local_loss=False, with_grad=False)


def _as_views(features: torch.Tensor) -> torch.Tensor:
    if features.dim() == 2:
        return features.unsqueeze(1)
    if features.dim() == 3:
        return features
    raise ValueError(f"features must be [N, D] or [N, V, D], got {tuple(features.shape)}")


def supcon_loss(features: torch.Tensor, labels: torch.Tensor | None = None, *,
                targets: torch.Tensor | None = None, scale: torch.Tensor | float = 1 / 0.07,
                mask: torch.Tensor | None = None, spec: GatherSpec = GatherSpec(),
                reduction: str = "mean") -> torch.Tensor:
    """SupCon ("L_out") over ``features`` [n, V, D] (or [n, D], one view).

    Args:
        features: local features; cosine logits are ``scale * <f_a, f_c>`` so pass
            L2-normalised rows (:class:`SupConLoss` normalises for you).
        labels: [n] integer labels (or [n, L] label tuples); positives share the label.
        targets: [n, W*n] non-negative sample-level weights instead of ``labels``
            (graded positives); expanded to all view pairs. ``W`` = world size.
        scale: logit scale (1 / temperature).
        mask: optional [n, W*n] bool sample-level validity (False: that candidate is not
            a negative nor a positive for that anchor, e.g. a false-negative mask).
        spec: gather semantics (anchors are always the local rows).
        reduction: "mean" (over anchors with a positive), "sum" or "none" ([n*V],
            sample-major: row ``i*V + v``).

    Returns:
        the loss (scalar, or [n*V]).
    """
    feats = _as_views(features)
    n, v, d = feats.shape
    rank, _ = world()
    all_feats = gather_features(feats.contiguous(), spec)  # [W*n, V, D]
    m = all_feats.shape[0]
    if targets is None:
        if labels is None:
            sample_t = torch.zeros(n, m, dtype=feats.dtype, device=feats.device)
            idx = torch.arange(n, device=feats.device)
            sample_t[idx, idx + rank * n] = 1.0
        else:
            all_labels = gather_features(labels, _LABEL_SPEC)
            sample_t = same_label_targets(labels, all_labels, dtype=feats.dtype)
    else:
        if targets.shape != (n, m):
            raise ValueError(f"targets must be [n, W*n] = [{n}, {m}], got {tuple(targets.shape)}")
        if (targets < 0).any():
            raise ValueError("targets must be non-negative")
        sample_t = targets.to(feats.dtype)
    # Expand sample-level [n, m] to view level [n*V, m*V] (sample-major rows and columns).
    view_t = sample_t.repeat_interleave(v, dim=0).repeat_interleave(v, dim=1)
    logits = scale * feats.reshape(n * v, d) @ all_feats.reshape(m * v, d).T
    rows = torch.arange(n * v, device=feats.device)
    not_self = torch.ones_like(view_t, dtype=torch.bool)
    not_self[rows, rows + rank * n * v] = False
    valid = not_self
    if mask is not None:
        if mask.shape != (n, m):
            raise ValueError(f"mask must be [n, W*n] = [{n}, {m}], got {tuple(mask.shape)}")
        valid = valid & mask.to(torch.bool).repeat_interleave(v, dim=0).repeat_interleave(v, dim=1)
    return soft_cross_entropy(logits, view_t, valid, reduction=reduction)


class SupConLoss(LossBase):
    """Supervised contrastive loss (module shell over :func:`supcon_loss`).

    ``forward(features [N, D] or [N, V, D], labels=None, *, targets=None, mask=None,
    logit_scale=None, return_dict=False)``. Features are L2-normalised when
    ``normalize=True``. Default temperature 0.07 (the paper uses 0.1 for ImageNet).

    Example::

        loss = SupConLoss(temperature=0.1)(torch.stack([z1, z2], dim=1), labels)
    """

    name = "supcon"
    citation = "Khosla et al., Supervised Contrastive Learning, NeurIPS 2020"
    config_keys = ("normalize",)

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 normalize: bool = True, gather: GatherSpec = GatherSpec()) -> None:
        super().__init__(temperature, learn_scale)
        self.normalize = normalize
        self.gather = gather

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None, *,
                targets: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if self.normalize:
            features = F.normalize(features, dim=-1)
        loss = supcon_loss(features, labels, targets=targets, scale=self.resolve_scale(logit_scale),
                           mask=mask, spec=self.gather)
        return self.output(loss, return_dict)
