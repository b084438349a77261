"""SupReMix loss: supervised contrastive regression with mixup pairs (Wu et al., 2023).

For each anchor the candidates are the other (gathered) batch samples (positives: label within
``tolerance``) plus its synthetic mixes from
:class:`representation.miners.mixup.MixupPairGenerator` (anchor-exclusive mixes with the
anchor's label are positives, anchor-inclusive mixes are hard negatives). The loss is
SupCon's multi-positive soft cross-entropy over logits [n, N + C] with the anchor's own
column masked. With ``num_negatives = num_positives = 0`` mixes it is SupCon.

Under DDP the mixing plan is drawn for the WHOLE gathered batch (the library's global
convention) from ``generator``; seed it identically on every rank (or pass ``plan``) and every
rank holds the same plan, so DDP equals full-batch training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec, gather
from representation.distributed.reduce import masked_mean
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.miners.mixup import MixupPairGenerator, MixupPairs
from representation.registry import register

_LABELS = GatherSpec(local_loss=False, with_grad=False)


def supremix_rows(z_rows: torch.Tensor, z_all: torch.Tensor, y_rows: torch.Tensor, y_all: torch.Tensor,
                  row_index: torch.Tensor, mixes: torch.Tensor | None, pairs: MixupPairs | None,
                  scale: torch.Tensor | float, *, tolerance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row losses [R] and counted flags of anchors ``z_rows`` (global indices ``row_index``)
    against all samples ``z_all`` and their own ``mixes`` [R, C, D] (already normalised)."""
    yr, ya = y_rows.to(torch.float64), y_all.to(torch.float64)
    logits = scale * z_rows @ z_all.T
    targets = ((yr.unsqueeze(1) - ya.unsqueeze(0)).abs() <= tolerance).to(z_rows.dtype)
    valid = torch.ones_like(logits, dtype=torch.bool)
    valid[torch.arange(row_index.numel(), device=valid.device), row_index] = False
    if pairs is not None and mixes is not None:
        logits = torch.cat([logits, scale * torch.einsum("nd,ncd->nc", z_rows, mixes)], dim=1)
        targets = torch.cat([targets, pairs.positive.to(z_rows.dtype)], dim=1)
        valid = torch.cat([valid, pairs.valid], dim=1)
    rows = soft_cross_entropy(logits, targets, valid, reduction="none")
    counted = (targets.masked_fill(~valid, 0.0).sum(dim=1) > 0)
    return rows, counted


def supremix_loss(z: torch.Tensor, y: torch.Tensor, pairs: MixupPairs | None, scale: torch.Tensor | float,
                  *, tolerance: float = 0.0, normalize_mixes: bool = True) -> torch.Tensor:
    """Single-process SupReMix loss for L2-normalised ``z`` [N, D], labels ``y`` [N] and mixes
    ``pairs`` (with features, or a plan mixed from ``z``)."""
    mixes = None
    if pairs is not None:
        mixes = pairs.features if pairs.features is not None else pairs.mix(z)
        mixes = F.normalize(mixes, dim=-1) if normalize_mixes else mixes
    rows, counted = supremix_rows(z, z, y, y, torch.arange(z.shape[0], device=z.device), mixes, pairs, scale,
                                  tolerance=tolerance)
    return rows[counted].sum() / counted.sum().clamp_min(1)


@register("supremix", kind="loss")
class SupReMixLoss(LossBase):
    """``forward(features [n, D], labels [n] (float), *, generator=None, plan=None, logit_scale=None,
    return_dict=False)``; mixes are drawn by the held :class:`MixupPairGenerator` for the whole
    gathered batch (or taken from ``plan``, a :class:`MixupPairs` over the gathered batch)."""

    name = "supremix"
    citation = MixupPairGenerator.citation
    config_keys = (*SCALE_KEYS, "num_negatives", "num_positives", "lam_range", "tolerance", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 num_negatives: int = 4, num_positives: int = 4, lam_range: tuple[float, float] | list[float] = (0.5, 0.9),
                 tolerance: float = 0.0, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.tolerance = float(tolerance)
        self.num_negatives, self.num_positives = int(num_negatives), int(num_positives)
        self.lam_range = (float(lam_range[0]), float(lam_range[1]))
        self.gather = GatherSpec.coerce(gather)
        self.mixer = (MixupPairGenerator(num_negatives, num_positives, self.lam_range, tolerance)
                      if num_negatives + num_positives > 0 else None)

    def forward(self, features: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator | None = None,
                plan: MixupPairs | None = None, logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        spec = self.gather
        z = F.normalize(features, dim=-1)
        rows, z_all, layout, _ = gather_rows_and_keys(z, None, spec)
        y_all = gather(labels, _LABELS, sizes=layout.sizes).tensor
        index = global_rows(layout, spec, z.device)
        if plan is None and self.mixer is not None:
            plan = self.mixer.plan(y_all, generator)
        pairs = mixes = None
        if plan is not None:
            pairs = plan.rows(index)
            mixes = F.normalize(pairs.mix(z_all), dim=-1)
        per_row, counted = supremix_rows(rows, z_all, y_all[index], y_all, index, mixes, pairs,
                                         self.resolve_scale(logit_scale), tolerance=self.tolerance)
        loss = masked_mean(per_row, counted, spec)
        n_pos = 0 if pairs is None else int((pairs.positive & pairs.valid).sum())
        return self.output(loss, return_dict, num_mixed_positives=n_pos)
