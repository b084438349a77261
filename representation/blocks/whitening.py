"""Whitening and normalisation blocks.

* :class:`ShuffledGroupWhitening` (WhitenedCSE, Zhuo et al., ACL 2023): batch whitening of
  [N, D] embeddings in G channel groups after a random channel permutation
  (:func:`representation.functional.whitening.group_whiten`). Under DDP the statistics come from
  the gathered batch (differentiable gather), so every rank whitens exactly as one process would.
* :class:`EmbeddingWhitening`: post-hoc whitening fitted once on a data set, optionally one
  transform per group (CCP whitens the sentence embeddings of each language separately).
* :class:`AsymmetricBatchNorm` (CCP, Wu et al., IJCAI 2022): BatchNorm on one branch of a
  siamese pair only; the other branch passes unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import nn

from representation.distributed.gather import GatherSpec, gather
from representation.functional.whitening import apply_whitening, fit_whitening, group_whiten
from representation.registry import register

WHITENEDCSE_CITATION = ("Zhuo et al., WhitenedCSE: Whitening-based Contrastive Learning of Sentence "
                        "Embeddings, ACL 2023")
_STATS = GatherSpec(local_loss=False, with_grad=True)
CCP_CITATION = ("Wu et al., Unsupervised Context Aware Sentence Representation Pretraining for "
                "Multi-lingual Dense Retrieval, IJCAI 2022")


@register("shuffled_group_whitening", kind="block")
class ShuffledGroupWhitening(nn.Module):
    """``forward(x [n, D], perm=None) -> [n, D]``: group ZCA with the batch's statistics.

    Args:
        num_groups: G (D must be a multiple of it); D/G should be below the (global) batch size.
        shuffle: draw a random channel permutation per call (``perm`` overrides; pass the same
            ``perm`` on every rank, or seed every rank alike).
        eps: added to the eigenvalues.

    The mean and covariance are those of the batch gathered from every rank with a differentiable
    gather, so the result (each rank's own rows) and, after DDP's average, the gradient equal
    the full batch's for any loss on top whose own gather is exact.
    """

    citation = WHITENEDCSE_CITATION

    def __init__(self, num_groups: int = 1, shuffle: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        if num_groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {num_groups}")
        self.num_groups, self.shuffle, self.eps = int(num_groups), bool(shuffle), float(eps)

    def forward(self, x: torch.Tensor, perm: torch.Tensor | None = None) -> torch.Tensor:
        if perm is None and self.shuffle and self.num_groups > 1:
            perm = torch.randperm(x.shape[1], device=x.device)
        stats = gather(x, _STATS).tensor
        return group_whiten(x, self.num_groups, perm, eps=self.eps, stats=stats)

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_groups": self.num_groups, "shuffle": self.shuffle, "eps": self.eps}


@register("embedding_whitening", kind="block")
class EmbeddingWhitening(nn.Module):
    """Post-hoc whitening ``(x - μ_g) W_g`` fitted on data (buffers, saved with the module).

    ``fit(x [N, D], groups=None)``: one transform, or one per group key (e.g. language, region);
    ``forward(x [n, D], groups=None) -> [n, k]``; a group unseen in ``fit`` raises ValueError.

    Args:
        dim: None = ZCA (k = D), else keep the k leading principal directions.
        eps: added to the eigenvalues.
    """

    citation = f"{CCP_CITATION}; Su et al., Whitening Sentence Representations for Better Semantics and Faster Retrieval, arXiv:2103.15316, 2021"

    def __init__(self, dim: int | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.eps = (None if dim is None else int(dim)), float(eps)
        self.keys: list[Hashable] = []
        self.register_buffer("means", torch.zeros(0, 0), persistent=True)
        self.register_buffer("matrices", torch.zeros(0, 0, 0), persistent=True)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, groups: Sequence[Hashable] | torch.Tensor | None = None) -> EmbeddingWhitening:
        keys = [None] if groups is None else list(dict.fromkeys(_keys(groups)))
        means, mats = [], []
        for key in keys:
            rows = x if key is None else x[torch.tensor([g == key for g in _keys(groups)])]
            if rows.shape[0] < 2:
                raise ValueError(f"group {key!r} has {rows.shape[0]} rows; whitening needs at least 2")
            m, w = fit_whitening(rows, eps=self.eps, dim=self.dim)
            means.append(m)
            mats.append(w)
        self.keys = keys
        self.means, self.matrices = torch.stack(means), torch.stack(mats)
        return self

    def forward(self, x: torch.Tensor, groups: Sequence[Hashable] | torch.Tensor | None = None) -> torch.Tensor:
        if not self.keys:
            raise ValueError("EmbeddingWhitening is not fitted: call fit(x) first")
        if groups is None:
            if self.keys != [None]:
                raise ValueError("this whitening was fitted per group: pass groups")
            return apply_whitening(x, self.means[0], self.matrices[0])
        keys = _keys(groups)
        index = {k: i for i, k in enumerate(self.keys)}
        unknown = sorted({str(k) for k in keys if k not in index})
        if unknown:
            raise ValueError(f"groups {unknown} were not seen in fit()")
        idx = torch.tensor([index[k] for k in keys], device=x.device)
        return ((x - self.means[idx].to(x.dtype)).unsqueeze(1) @ self.matrices[idx].to(x.dtype)).squeeze(1)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "eps": self.eps}


def _keys(groups: Sequence[Hashable] | torch.Tensor) -> list[Hashable]:
    return groups.tolist() if torch.is_tensor(groups) else list(groups)


@register("asymmetric_batch_norm", kind="block")
class AsymmetricBatchNorm(nn.Module):
    """``forward(q [n, D], k [m, D]) -> (BatchNorm(q), k)``: normalise one branch only (CCP).

    The BatchNorm uses this rank's batch statistics (``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
    makes them global under DDP)."""

    citation = CCP_CITATION

    def __init__(self, dim: int, affine: bool = True, momentum: float = 0.1) -> None:
        super().__init__()
        self.dim, self.affine, self.momentum = int(dim), bool(affine), float(momentum)
        self.norm = nn.BatchNorm1d(dim, affine=affine, momentum=momentum)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.norm(q), k

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "affine": self.affine, "momentum": self.momentum}
