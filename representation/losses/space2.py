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

from representation.distributed.gather import GatherSpec, world
from representation.losses.base import LossBase
from representation.losses.supcon import supcon_loss
from representation.targets.hierarchy import Item, hierarchy_jaccard_targets


class Space2Loss(LossBase):
    """Graded SupCon with hierarchy-Jaccard targets.

    ``forward(features [N, D] or [N, V, D], paths, *, unlabelled=None, mask=None,
    logit_scale=None, return_dict=False)`` with ``paths`` N label paths (see
    :mod:`representation.targets.hierarchy`). Under DDP, ``paths`` must be the paths of
    the whole gathered batch (W*N, rank order) and ``features`` the local rows.
    Returns ``{"space2_loss", "space2_unsup_loss"?}`` with ``return_dict``.
    """

    name = "space2"
    citation = ("He et al., SPACE-2: Tree-Structured Semi-Supervised Contrastive Pre-training for "
                "Task-Oriented Dialog Understanding, COLING 2022")
    config_keys = ("unsup_weight", "normalize")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 unsup_weight: float = 1.0, normalize: bool = True, gather: GatherSpec = GatherSpec()) -> None:
        super().__init__(temperature, learn_scale)
        self.unsup_weight = unsup_weight
        self.normalize = normalize
        self.gather = gather

    def forward(self, features: torch.Tensor, paths: Sequence[Item], *,
                unlabelled: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        rank, size = world()
        n = features.shape[0]
        if len(paths) != n * size:
            raise ValueError(f"need one path per gathered sample ({n * size}), got {len(paths)}")
        local_paths = list(paths[rank * n:(rank + 1) * n])
        targets = hierarchy_jaccard_targets(local_paths, list(paths), device=features.device,
                                            dtype=features.dtype)
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
