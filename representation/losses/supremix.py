"""SupReMix loss: supervised contrastive regression with mixup pairs (Wu et al., 2023).

For each anchor the candidates are the other batch samples (positives: label within
``tolerance``) plus its synthetic mixes from
:class:`representation.miners.mixup.MixupPairGenerator` (anchor-exclusive mixes with the
anchor's label are positives, anchor-inclusive mixes are hard negatives). The loss is
SupCon's multi-positive soft cross-entropy over logits [N, N + C] with the anchor's own
column masked. With ``num_negatives = num_positives = 0`` mixes it is SupCon.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import LossBase
from representation.miners.mixup import MixupPairGenerator, MixupPairs


def supremix_loss(z: torch.Tensor, y: torch.Tensor, pairs: MixupPairs | None, scale: torch.Tensor | float,
                  *, tolerance: float = 0.0, normalize_mixes: bool = True, reduction: str = "mean"
                  ) -> torch.Tensor:
    """SupReMix loss for L2-normalised ``z`` [N, D], labels ``y`` [N] and mixes ``pairs``."""
    n = z.shape[0]
    yd = y.to(torch.float64)
    logits = scale * z @ z.T
    targets = ((yd.unsqueeze(1) - yd.unsqueeze(0)).abs() <= tolerance).to(z.dtype)
    valid = ~torch.eye(n, dtype=torch.bool, device=z.device)
    if pairs is not None:
        mixes = F.normalize(pairs.features, dim=-1) if normalize_mixes else pairs.features
        logits = torch.cat([logits, scale * torch.einsum("nd,ncd->nc", z, mixes)], dim=1)
        targets = torch.cat([targets, pairs.positive.to(z.dtype)], dim=1)
        valid = torch.cat([valid, pairs.valid], dim=1)
    return soft_cross_entropy(logits, targets, valid, reduction=reduction)


class SupReMixLoss(LossBase):
    """``forward(features [N, D], labels [N] (float), *, generator=None, logit_scale=None,
    return_dict=False)``; mixes are drawn by the held :class:`MixupPairGenerator`."""

    name = "supremix"
    citation = MixupPairGenerator.citation
    config_keys = ("tolerance",)

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 num_negatives: int = 4, num_positives: int = 4, lam_range: tuple[float, float] = (0.5, 0.9),
                 tolerance: float = 0.0) -> None:
        super().__init__(temperature, learn_scale)
        self.tolerance = float(tolerance)
        self.mixer = (MixupPairGenerator(num_negatives, num_positives, lam_range, tolerance)
                      if num_negatives + num_positives > 0 else None)

    def forward(self, features: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        z = F.normalize(features, dim=-1)
        pairs = None if self.mixer is None else self.mixer(z, labels, generator)
        loss = supremix_loss(z, labels, pairs, self.resolve_scale(logit_scale), tolerance=self.tolerance)
        n_pos = 0 if pairs is None else int((pairs.positive & pairs.valid).sum())
        return self.output(loss, return_dict, num_mixed_positives=n_pos)

    def get_config_dict(self) -> dict[str, Any]:
        cfg = super().get_config_dict()
        cfg["mixer"] = None if self.mixer is None else self.mixer.get_config_dict()
        return cfg
