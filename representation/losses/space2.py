"""SPACE-2 graded supervised contrastive loss (He et al., COLING 2022).

SupCon whose positives are weighted by the hierarchical Jaccard score of the items'
label paths (:func:`representation.targets.hierarchy.hierarchy_jaccard_targets`): for
geolocation, continent > country > admin-1 > geocell. Pairs sharing more levels pull
harder; pairs sharing nothing are pure negatives. With one-level paths (one-hot labels)
the loss equals :class:`~representation.losses.supcon.SupConLoss`.

SPACE-2 also adds a self-supervised contrastive term for unlabelled data (dropout views);
pass ``unlabelled`` features [U, 2, D] to add SimCLR on them (weight ``unsup_weight``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import Dense
from representation.distributed.gather import GatherSpec, gather_sizes, world
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.supcon import supcon_loss
from representation.registry import register
from representation.targets.hierarchy import Item, hierarchy_jaccard_targets


@register("space2", kind="loss")
class Space2Loss(LossBase):
    """Graded SupCon with hierarchy-Jaccard targets.

    ``forward(features [n, D] or [n, V, D], paths, *, unlabelled=None, mask=None,
    logit_scale=None, return_dict=False)`` with ``paths`` the label paths of the WHOLE gathered
    batch (N items in rank order; in one process the batch's N paths; see
    :mod:`representation.targets.hierarchy`) and ``features`` this rank's rows. Only the rows a
    rank scores are turned into targets. Returns ``{"space2_loss", "space2_unsup_loss"?}`` with
    ``return_dict``.
    """

    name = "space2"
    citation = ("He et al., SPACE-2: Tree-Structured Semi-Supervised Contrastive Pre-training for "
                "Task-Oriented Dialog Understanding, COLING 2022")
    config_keys = (*SCALE_KEYS, "unsup_weight", "normalize", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 unsup_weight: float = 1.0, normalize: bool = True, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.unsup_weight = float(unsup_weight)
        self.normalize = bool(normalize)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, features: torch.Tensor, paths: Sequence[Item], *,
                unlabelled: torch.Tensor | None = None, mask: Dense = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        _, size = world()
        n_all = sum(gather_sizes(features.shape[0], device=features.device)[0]) if size > 1 else features.shape[0]
        if len(paths) != n_all:
            raise ValueError(f"need one path per gathered sample ({n_all}), got {len(paths)}")
        all_paths = list(paths)
        dtype, device = features.dtype, features.device

        def targets(rows: torch.Tensor) -> torch.Tensor:
            return hierarchy_jaccard_targets([all_paths[int(i)] for i in rows], all_paths, device=device, dtype=dtype)

        scale = self.resolve_scale(logit_scale)
        if self.normalize:
            features = F.normalize(features, dim=-1)
        sup = supcon_loss(features, targets=targets, scale=scale, mask=mask, spec=self.gather)
        if unlabelled is None:
            return self.output(sup, return_dict)
        if self.normalize:
            unlabelled = F.normalize(unlabelled, dim=-1)
        unsup = self.unsup_weight * supcon_loss(unlabelled, None, scale=scale, spec=self.gather)
        if not return_dict:
            return sup + unsup
        return {"space2_loss": sup, "space2_unsup_loss": unsup, "logs": {"sup": sup.detach(),
                                                                         "unsup": unsup.detach()}}
