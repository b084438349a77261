"""InfoNCE loss module: CLIP (symmetric), MNRL (one-directional, extra hard-negative
columns) and SimCSE (one-directional, two dropout views), distributed through
:mod:`representation.distributed`.

Distributed semantics (``GatherSpec``):

* keys (and hard negatives, and for the symmetric direction the queries) are gathered
  from all ranks; with ``local_loss=True`` each rank scores its own n rows against all
  W*n (+ W*h) columns with rank-offset positives, otherwise every rank scores all W*n rows.
* normalisation: with ``local_loss`` the rank's loss is ``W * (sum of its counted row
  losses) / (number of counted rows over all ranks)``. DDP averages gradients over the W
  ranks and the differentiable gather sums the column gradients back, so the averaged
  gradient equals the gradient of the full-batch mean (exactly, also when ranks count
  different numbers of rows). When every row counts this value is the local mean.
* ``targets`` / ``mask`` are GLOBAL matrices [W*n, W*n + W*h] (rows: gathered queries in
  rank order, columns: gathered keys then gathered negatives); build them from gathered
  labels / coordinates. Each rank uses its own row block. In one process this is just
  [N, N + H].
"""

from __future__ import annotations

from typing import Any

import torch

from representation.distributed import GatherSpec, all_reduce_sum, gather_features, world
from representation.functional.info_nce import contrastive_row_losses
from representation.losses.base import LossBase
from representation.similarity.pairwise import pairwise_dot

CLIP_CITATION = ("Radford et al., Learning Transferable Visual Models From Natural Language Supervision, "
                 "ICML 2021")
MNRL_CITATION = ("Henderson et al., Efficient Natural Language Response Suggestion for Smart Reply, "
                 "arXiv:1705.00652, 2017")
SIMCSE_CITATION = ("Gao, Yao and Chen, SimCSE: Simple Contrastive Learning of Sentence Embeddings, "
                   "EMNLP 2021")
INFONCE_CITATION = ("van den Oord, Li and Vinyals, Representation Learning with Contrastive Predictive "
                    "Coding, arXiv:1807.03748, 2018")


class InfoNCELoss(LossBase):
    """InfoNCE / NT-Xent over pairwise similarities.

    ``forward(q [n, D], k [n, D], *, targets=None, mask=None, logit_scale=None,
    logit_bias=None, negatives=None, return_dict=False)``; row i of ``k`` is the positive
    of row i of ``q``. ``negatives`` [h, D] (or [n, h', D]) adds extra key columns used
    only in the q -> k direction (MNRL / NegCLIP hard negatives).

    Args:
        temperature: fixed temperature (scale = 1 / temperature); default 0.07 if neither
            this nor ``learn_scale`` is given.
        learn_scale: learnable clamped logit scale (CLIP's) instead of a fixed temperature.
        symmetric: True = CLIP (mean of q->k and k->q); False = MNRL / SimCSE.
        similarity: "cosine" (features L2-normalised here) or "dot" (used as given).
        gather: cross-rank gathering, see module docstring.
    """

    name = "infonce"
    citation = f"{INFONCE_CITATION}; {CLIP_CITATION}; {MNRL_CITATION}; {SIMCSE_CITATION}"
    config_keys = ("symmetric", "similarity")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 symmetric: bool = True, similarity: str = "cosine", gather: GatherSpec | None = None,
                 max_scale: float = 100.0) -> None:
        super().__init__(temperature=temperature, learn_scale=learn_scale, max_scale=max_scale)
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.symmetric = symmetric
        self.similarity = similarity
        self.gather = gather if gather is not None else GatherSpec()

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

    def get_config_dict(self) -> dict[str, Any]:
        cfg = super().get_config_dict()
        cfg.update(local_loss=self.gather.local_loss, with_grad=self.gather.with_grad)
        return cfg

    def _logits(self, rows: torch.Tensor, cols: torch.Tensor, scale: Any, bias: Any) -> torch.Tensor:
        logits = pairwise_dot(rows, cols) * scale
        return logits if bias is None else logits + bias

    def _direction(self, logits: torch.Tensor, row_offset: int, targets: torch.Tensor | None,
                   mask: torch.Tensor | None, distributed_local: bool, world_size: int) -> torch.Tensor:
        n_rows = logits.shape[0]
        labels = torch.arange(n_rows, device=logits.device) + row_offset
        t = None if targets is None else targets[row_offset:row_offset + n_rows]
        m = None if mask is None else mask[row_offset:row_offset + n_rows]
        losses, counted = contrastive_row_losses(logits, labels, t, m)
        local_sum = losses[counted].sum()
        if distributed_local:
            total = all_reduce_sum(counted.sum().to(losses.dtype)).clamp_min(1)
            return world_size * local_sum / total
        return local_sum / counted.sum().clamp_min(1)

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                logit_bias: torch.Tensor | float | None = None, negatives: torch.Tensor | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if q.dim() != 2 or q.shape != k.shape:
            raise ValueError(f"q and k must both be [n, D], got {tuple(q.shape)} and {tuple(k.shape)}")
        if self.similarity == "cosine":
            q = torch.nn.functional.normalize(q, dim=1)
            k = torch.nn.functional.normalize(k, dim=1)
        neg = None
        if negatives is not None:
            neg = negatives.reshape(-1, q.shape[1])
            if self.similarity == "cosine":
                neg = torch.nn.functional.normalize(neg, dim=1)
        scale = self.resolve_scale(logit_scale)
        rank, size = world()
        spec = self.gather
        local = spec.local_loss or size == 1
        distributed_local = spec.local_loss and size > 1
        n = q.shape[0]
        all_k = gather_features(k, spec)
        cols = all_k if neg is None else torch.cat([all_k, gather_features(neg, spec)], dim=0)
        all_q = gather_features(q, spec) if (self.symmetric or not local) else q
        rows = q if local else all_q
        offset = rank * n if local else 0
        n_global = n * size
        for name, mat, width in (("targets", targets, cols.shape[0]), ("mask", mask, cols.shape[0])):
            if mat is not None and tuple(mat.shape) != (n_global, width):
                raise ValueError(f"{name} must be the global [{n_global}, {width}] matrix (gathered rows x "
                                 f"gathered keys + negatives), got {tuple(mat.shape)}")
        logits = self._logits(rows, cols, scale, logit_bias)
        loss = self._direction(logits, offset, targets, mask, distributed_local, size)
        logs: dict[str, Any] = {"logit_scale": scale}
        if self.symmetric:
            if distributed_local:  # local keys against all queries: a different block
                logits_t = self._logits(k, all_q, scale, logit_bias)
            else:  # rows are all queries and the first columns all keys: reuse the transpose
                logits_t = logits[:, :n_global].T
            t_t = None if targets is None else targets[:, :n_global].T
            m_t = None if mask is None else mask[:, :n_global].T
            loss_t = self._direction(logits_t, offset, t_t, m_t, distributed_local, size)
            logs.update(loss_qk=loss, loss_kq=loss_t)
            loss = 0.5 * (loss + loss_t)
        return self.output(loss, return_dict, **logs)
