"""UNITER's image-text matching with word-region alignment (Chen et al., "UNITER: UNiversal
Image-TExt Representation Learning", ECCV 2020).

For B (image, text) pairs, of which some match (ITM label 1) and some do not (0):

    L = CE(itm_logits, itm_labels) + λ (Σ_{pos} D_i - Σ_{neg} D_i) / B

where D_i is the optimal-transport distance between the pair's contextualised word and region
embeddings (:func:`representation.functional.ot.ot_distance`: cosine cost, IPOT plan without
gradient). Matching pairs are pulled to a low transport cost, mismatched ones pushed up. The pairs
are per sample (no negatives are gathered); both means run over the pairs of all ranks
(:func:`representation.distributed.rank_mean`), so DDP equals the full batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import sample_mean
from representation.functional.ot import ot_distance
from representation.losses.base import LossBase
from representation.registry import register

UNITER_CITATION = ("Chen et al., UNITER: UNiversal Image-TExt Representation Learning, ECCV 2020; Xie et al., "
                   "A Fast Proximal Point Method for Computing Exact Wasserstein Distance, UAI 2019")


@register("uniter_wra", kind="loss")
class UNITERLoss(LossBase):
    """``forward(words [B, m, D], regions [B, n, D], itm_labels [B], *, itm_logits=None,
    word_mask=None, region_mask=None, return_dict=False)``; ``itm_logits`` [B, 2] adds the ITM
    cross-entropy (without it only the WRA term is returned).

    Args:
        ot_weight: λ (UNITER's ``itm_ot_lambda``, 0.1).
        beta, iterations, k: IPOT's settings (0.5, 50, 1).
        gather: only ``local_loss`` matters (False: the per-pair terms are gathered, every rank
            evaluates the full-batch loss).
    """

    name = "uniter"
    citation = UNITER_CITATION
    config_keys = ("ot_weight", "beta", "iterations", "k", "gather")

    def __init__(self, ot_weight: float = 0.1, beta: float = 0.5, iterations: int = 50, k: int = 1,
                 gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        self.ot_weight, self.beta, self.iterations, self.k = float(ot_weight), float(beta), int(iterations), int(k)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, words: torch.Tensor, regions: torch.Tensor, itm_labels: torch.Tensor, *,
                itm_logits: torch.Tensor | None = None, word_mask: torch.Tensor | None = None,
                region_mask: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        dist = ot_distance(words, regions, word_mask, region_mask, beta=self.beta, iterations=self.iterations, k=self.k)
        sign = torch.where(itm_labels.reshape(-1) > 0, 1.0, -1.0).to(dist.dtype)
        out = {"ot_loss": self.ot_weight * sample_mean(sign * dist, None, self.gather)}
        if itm_logits is not None:
            ce = F.cross_entropy(itm_logits, itm_labels.reshape(-1).long(), reduction="none")
            out["itm_loss"] = sample_mean(ce, None, self.gather)
        total = torch.stack(list(out.values())).sum()
        if not return_dict:
            return total
        return {**out, "logs": {"ot_distance": dist.detach()}}
