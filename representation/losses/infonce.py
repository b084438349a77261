"""InfoNCE loss module: CLIP (symmetric), MNRL (one-directional, extra hard-negative
columns) and SimCSE (one-directional, two dropout views), distributed through
:mod:`representation.distributed` by the shared engine :func:`representation.losses.engine.contrastive_loss`.

Distributed semantics (``GatherSpec``): keys (and hard negatives, and for the symmetric
direction the queries) are gathered from all ranks; with ``local_loss=True`` each rank scores
its own rows against all columns with rank-offset positives, otherwise every rank scores all
rows. The mean over counted rows is :func:`representation.distributed.rank_mean`: DDP training
equals single-process full-batch training for every ``GatherSpec`` except
``(local_loss=True, with_grad=False)``, also when ranks count different numbers of rows or
hold different numbers of rows. ``targets`` / ``mask`` follow the library's one convention
(:mod:`representation.distributed.blocks`): global matrices of the whole gathered batch.
"""

from __future__ import annotations

from typing import Any

import torch

from representation.distributed import GatherSpec
from representation.distributed.blocks import Dense
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import contrastive_loss
from representation.registry import register

CLIP_CITATION = ("Radford et al., Learning Transferable Visual Models From Natural Language Supervision, "
                 "ICML 2021")
MNRL_CITATION = ("Henderson et al., Efficient Natural Language Response Suggestion for Smart Reply, "
                 "arXiv:1705.00652, 2017")
SIMCSE_CITATION = ("Gao, Yao and Chen, SimCSE: Simple Contrastive Learning of Sentence Embeddings, "
                   "EMNLP 2021")
INFONCE_CITATION = ("van den Oord, Li and Vinyals, Representation Learning with Contrastive Predictive "
                    "Coding, arXiv:1807.03748, 2018")


@register("infonce", kind="loss")
class InfoNCELoss(LossBase):
    """InfoNCE / NT-Xent over pairwise similarities.

    ``forward(q [n, D], k [n, D], *, targets=None, mask=None, targets_t=None, mask_t=None,
    negatives=None, negatives_valid=None, memory=None, logit_scale=None, logit_bias=None,
    return_dict=False)``; without ``targets`` row i of ``k`` is the positive of row i of ``q``.
    ``negatives`` [h, D] (or [n, h', D]) adds extra key columns used only in the q -> k
    direction (MNRL / NegCLIP hard negatives); ``memory`` [Q, D] adds replicated columns (a
    cross-batch memory). With ``targets`` (non-negative weights, row-normalised) ``q`` [n, D]
    and ``k`` [m, D] may differ in length (multi-positive / soft targets).

    Args:
        temperature: fixed temperature (scale = 1 / temperature); default 0.07 if neither
            this nor ``learn_scale`` is given.
        learn_scale: learnable clamped logit scale (CLIP's) instead of a fixed temperature.
        init_temperature, max_scale: the learnable scale's start (scale 1/0.07) and clamp (100).
        symmetric: True = CLIP (mean of q->k and k->q); False = MNRL / SimCSE.
        similarity: "cosine" (features L2-normalised here) or "dot" (used as given).
        label_smoothing: smoothing of each row's targets over its valid columns (0 = none).
        gather: cross-rank gathering (``GatherSpec`` or its dict).

    Example::

        loss = InfoNCELoss.clip()(image_emb, text_emb)               # CLIP, learnable scale
        loss = InfoNCELoss.mnrl()(anchor, positive, negatives=hard)  # sentence-transformers MNRL
    """

    name = "infonce"
    citation = f"{INFONCE_CITATION}; {CLIP_CITATION}; {MNRL_CITATION}; {SIMCSE_CITATION}"
    config_keys = (*SCALE_KEYS, "symmetric", "similarity", "label_smoothing", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 symmetric: bool = True, similarity: str = "cosine", label_smoothing: float = 0.0,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature=temperature, learn_scale=learn_scale, max_scale=max_scale,
                         init_temperature=init_temperature)
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.symmetric = bool(symmetric)
        self.similarity = similarity
        self.label_smoothing = float(label_smoothing)
        self.gather = GatherSpec.coerce(gather)

    @classmethod
    def clip(cls, learn_scale: bool = True, **kw: Any) -> InfoNCELoss:
        """CLIP: symmetric, learnable scale (init 1/0.07, clamp 100)."""
        return cls(learn_scale=learn_scale, symmetric=True, **kw)

    @classmethod
    def mnrl(cls, scale: float = 20.0, **kw: Any) -> InfoNCELoss:
        """sentence-transformers MultipleNegativesRankingLoss: one-directional, cosine, scale 20."""
        return cls(temperature=1.0 / scale, symmetric=False, **kw)

    @classmethod
    def simcse(cls, temperature: float = 0.05, **kw: Any) -> InfoNCELoss:
        """SimCSE: one-directional between two dropout views (supervised: pass the
        contradiction embeddings as ``negatives``), temperature 0.05."""
        return cls(temperature=temperature, symmetric=False, **kw)

    def _prepare(self, x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None or self.similarity == "dot":
            return x
        return torch.nn.functional.normalize(x, dim=-1)

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: Dense = None, mask: Dense = None,
                targets_t: Dense = None, mask_t: Dense = None, negatives: torch.Tensor | None = None,
                negatives_valid: torch.Tensor | None = None, memory: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, logit_bias: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        scale = self.resolve_scale(logit_scale)
        loss, logs = contrastive_loss(
            self._prepare(q), self._prepare(k), scale=scale, bias=logit_bias, targets=targets, mask=mask,
            negatives=self._prepare(negatives), negatives_valid=negatives_valid, memory=self._prepare(memory),
            symmetric=self.symmetric, targets_t=targets_t, mask_t=mask_t, label_smoothing=self.label_smoothing,
            spec=self.gather)
        return self.output(loss, return_dict, logit_scale=scale, **logs)
