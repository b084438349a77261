"""SupReMix mixup pairs for supervised contrastive regression (Wu et al., 2023).

For an anchor ``a`` with label ``y_a`` (a real-valued, ordinal label):

* **anchor-inclusive mixes** ``lam * z_a + (1 - lam) * z_n`` with a negative ``n``
  (``y_n != y_a``) and ``lam`` in ``lam_range``: label ``lam * y_a + (1 - lam) * y_n``,
  different from ``y_a`` yet close to the anchor in embedding space -> **hard negatives**;
* **anchor-exclusive mixes** ``lam * z_i + (1 - lam) * z_j`` of two other samples with
  ``y_i < y_a < y_j`` and ``lam = (y_j - y_a) / (y_j - y_i)``: the mixed label
  ``lam * y_i + (1 - lam) * y_j`` equals ``y_a`` -> **hard positives**, which tie the
  anchor to the samples on both sides of it and so teach the order of the labels.

Everything is returned as dense per-anchor tensors (no index tuples): candidate features
[N, C, D], their mixed labels [N, C], a positive flag and a validity flag [N, C].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from representation.registry import register


@dataclass
class MixupPairs:
    """Per-anchor synthetic candidates (C = num_negatives + num_positives).

    Attributes:
        features: [N, C, D] mixed embeddings (same dtype as the input), or None for a plan
            (indices only; :meth:`mix` computes the features from any embedding table).
        labels: [N, C] mixed labels.
        lam: [N, C] mixing coefficient of the first mixed sample (the anchor for inclusive
            mixes, sample ``i`` for exclusive ones).
        first, second: [N, C] indices of the two mixed samples (into the batch the plan was
            drawn from; under DDP the gathered batch).
        positive: [N, C] bool, True for anchor-exclusive (hard positive) mixes.
        valid: [N, C] bool, False where no candidate pair existed (e.g. an anchor with the
            largest label has no exclusive pair); invalid entries must be masked.
    """

    features: torch.Tensor | None
    labels: torch.Tensor
    lam: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    positive: torch.Tensor
    valid: torch.Tensor

    def rows(self, index: torch.Tensor) -> MixupPairs:
        """The anchors ``index`` [R] of this plan (e.g. one rank's rows of a global plan)."""
        feats = None if self.features is None else self.features[index]
        return MixupPairs(feats, self.labels[index], self.lam[index], self.first[index],
                          self.second[index], self.positive[index], self.valid[index])

    def mix(self, z: torch.Tensor) -> torch.Tensor:
        """Mixed embeddings [N, C, D] = ``lam * z[first] + (1 - lam) * z[second]``."""
        lam = self.lam.to(z.dtype).unsqueeze(-1)
        return lam * z[self.first] + (1 - lam) * z[self.second]


def _sample_columns(allowed: torch.Tensor, k: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """k column indices per row drawn uniformly (with replacement) from ``allowed`` [N, M];
    returns (indices [N, k], row_has_any [N])."""
    has = allowed.any(dim=1)
    w = allowed.to(torch.float64) + (~has).unsqueeze(1).to(torch.float64)  # dummy weights for empty rows
    if generator is not None:  # draw on the generator's device, then move back
        w = w.to(generator.device)
    idx = torch.multinomial(w, k, replacement=True, generator=generator)
    return idx.to(allowed.device), has


@register("mixup_pairs", kind="miner")
class MixupPairGenerator:
    """Generate SupReMix hard negatives and hard positives.

    Args:
        num_negatives: anchor-inclusive mixes per anchor.
        num_positives: anchor-exclusive mixes per anchor.
        lam_range: (low, high) range of ``lam`` for inclusive mixes (``0 < low <= high < 1``).
        tolerance: labels within ``tolerance`` of the anchor's count as equal (not negatives;
            exclusive pairs need ``y_i < y_a - tol`` and ``y_j > y_a + tol``).

    ``gen(z [N, D], y [N], generator=None) -> MixupPairs`` (with features; gradients flow
    through the mixes into ``z``); ``gen.plan(y [N], generator=None)`` draws the same pairs
    without features (indices and lambdas), to be mixed later with :meth:`MixupPairs.mix`.
    """

    citation = "Wu et al., Mixup Your Own Pairs (SupReMix), arXiv:2309.16633, 2023"

    def __init__(self, num_negatives: int = 4, num_positives: int = 4,
                 lam_range: tuple[float, float] | list[float] = (0.5, 0.9), tolerance: float = 0.0) -> None:
        lo, hi = lam_range
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"lam_range must satisfy 0 < low <= high < 1, got {lam_range}")
        if num_negatives < 0 or num_positives < 0 or num_negatives + num_positives == 0:
            raise ValueError("need num_negatives >= 0, num_positives >= 0 and at least one mix")
        self.num_negatives, self.num_positives = num_negatives, num_positives
        self.lam_range = (float(lo), float(hi))
        self.tolerance = float(tolerance)

    def plan(self, y: torch.Tensor, generator: torch.Generator | None = None) -> MixupPairs:
        """Mix indices, lambdas and flags [N, C] for anchors ``y`` [N] (no features)."""
        if y.dim() != 1:
            raise ValueError(f"expected y [N], got {tuple(y.shape)}")
        n, device = y.shape[0], y.device
        yd = y.to(torch.float64)
        diff = yd.unsqueeze(0) - yd.unsqueeze(1)  # diff[a, c] = y_c - y_a
        rows = torch.arange(n, device=device).unsqueeze(1)
        parts: list[tuple[torch.Tensor, ...]] = []
        if self.num_negatives:
            neg_idx, has_neg = _sample_columns(diff.abs() > self.tolerance, self.num_negatives, generator)
            lo, hi = self.lam_range
            gen_device = generator.device if generator is not None else device
            lam = lo + (hi - lo) * torch.rand(n, self.num_negatives, generator=generator, dtype=torch.float64,
                                              device=gen_device)
            lam = lam.to(device)
            first = rows.expand(-1, self.num_negatives)
            labels = lam * yd.unsqueeze(1) + (1 - lam) * yd[neg_idx]
            parts.append((first, neg_idx, lam, labels, torch.zeros_like(lam, dtype=torch.bool),
                          has_neg.unsqueeze(1).expand(-1, self.num_negatives)))
        if self.num_positives:
            low_idx, has_low = _sample_columns(diff < -self.tolerance, self.num_positives, generator)
            high_idx, has_high = _sample_columns(diff > self.tolerance, self.num_positives, generator)
            y_i, y_j = yd[low_idx], yd[high_idx]
            ok = (has_low & has_high).unsqueeze(1).expand(-1, self.num_positives)
            lam = (y_j - yd.unsqueeze(1)) / (y_j - y_i).clamp_min(torch.finfo(torch.float64).tiny)
            lam = torch.where(ok, lam, torch.full_like(lam, 0.5))  # invalid entries: any finite mix
            labels = lam * y_i + (1 - lam) * y_j
            parts.append((low_idx, high_idx, lam, labels, torch.ones_like(lam, dtype=torch.bool), ok))
        first, second, lam, labels, positive, valid = (torch.cat(t, dim=1) for t in zip(*parts, strict=True))
        return MixupPairs(features=None, labels=labels.to(y.dtype if y.is_floating_point() else torch.float64),
                          lam=lam, first=first, second=second, positive=positive, valid=valid)

    def __call__(self, z: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> MixupPairs:
        if z.dim() != 2 or y.shape != (z.shape[0],):
            raise ValueError(f"expected z [N, D] and y [N], got {tuple(z.shape)} and {tuple(y.shape)}")
        plan = self.plan(y, generator)
        plan.features = plan.mix(z)
        return plan

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_negatives": self.num_negatives, "num_positives": self.num_positives,
                "lam_range": list(self.lam_range), "tolerance": self.tolerance}
