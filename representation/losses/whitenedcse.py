"""WhitenedCSE (Zhuo et al., ACL 2023): contrastive learning on shuffled-group-whitened embeddings.

V >= 3 dropout views of a batch are projected, and each view is whitened by
:class:`representation.blocks.ShuffledGroupWhitening` with its OWN random channel permutation
(and its own batch statistics). Repeated whitening of the same samples gives different but
equally uniform embeddings, which serve as extra positives. With ``z̃^v`` the whitened views and
cosine similarity, the paper's loss is

    L = Σ_{v=2..V} CE(z̃^1 · z̃^v / τ)   (one-directional InfoNCE, in-batch negatives, τ = 0.05)

i.e. a sum of SimCSE terms between the first view and every other view. Every term runs through
the shared engine (:func:`representation.losses.engine.contrastive_loss`; keys gathered across
ranks) and the whitening statistics are those of the gathered batch, so DDP equals full-batch
training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.blocks.whitening import WHITENEDCSE_CITATION, ShuffledGroupWhitening
from representation.distributed.gather import GatherSpec
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import contrastive_loss
from representation.registry import register


@register("whitenedcse", kind="loss")
class WhitenedCSELoss(LossBase):
    """``forward(views [n, V, D], *, perms=None, logit_scale=None, return_dict=False)``.

    Args:
        num_groups: whitening groups G (the paper: 384 channels per group for D = 768 is G = 2).
        shuffle: a fresh channel permutation per view and call (``perms`` [V, D] overrides).
        eps: whitening eigenvalue floor.
        temperature: τ (default 0.05, the paper's).
        gather: keys and whitening statistics across ranks.
    """

    name = "whitenedcse"
    citation = WHITENEDCSE_CITATION
    config_keys = (*SCALE_KEYS, "num_groups", "shuffle", "eps", "gather")

    def __init__(self, temperature: float | None = 0.05, learn_scale: bool = False, *, num_groups: int = 1,
                 shuffle: bool = True, eps: float = 1e-5, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature=None if learn_scale else temperature, learn_scale=learn_scale,
                         max_scale=max_scale, init_temperature=init_temperature)
        self.gather = GatherSpec.coerce(gather)
        self.whiten = ShuffledGroupWhitening(num_groups, shuffle=shuffle, eps=eps)
        self.num_groups, self.shuffle, self.eps = self.whiten.num_groups, self.whiten.shuffle, self.whiten.eps

    def forward(self, views: torch.Tensor, *, perms: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if views.dim() != 3 or views.shape[1] < 2:
            raise ValueError(f"views must be [n, V >= 2, D], got {tuple(views.shape)}")
        n_views = views.shape[1]
        if perms is not None and perms.shape != (n_views, views.shape[2]):
            raise ValueError(f"perms must be [{n_views}, {views.shape[2]}], got {tuple(perms.shape)}")
        white = [F.normalize(self.whiten(views[:, v], None if perms is None else perms[v]), dim=-1)
                 for v in range(n_views)]
        scale = self.resolve_scale(logit_scale)
        terms = [contrastive_loss(white[0], white[v], scale=scale, spec=self.gather)[0] for v in range(1, n_views)]
        loss = torch.stack(terms).sum()
        return self.output(loss, return_dict, **{f"term_{v}": t for v, t in enumerate(terms, start=1)})
