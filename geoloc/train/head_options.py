"""Head-side options built on ``representation``'s issue-15 methods, for heads trained on cached
tower embeddings (:func:`geoloc.train.heads.fit_heads`). None is a default: the preset heads
(:class:`geoloc.model.heads.ClassificationHeads` on the mean of the views) stay as they are;
``benchmarks/bench_methods_c_geo.py`` measures each option against them on SynthWorld.

* :class:`ViewAttentionHeads` (CoLLAP): the geocell logit of cell c is a cell-conditioned
  attention pooling of the views' cosine similarities to the cell's embedding,
  ``s · Σ_v α_vc cos(h_v, w_c)`` (:class:`representation.blocks.AttentionPooledSimilarity`, the cells
  playing CoLLAP's texts); ``attention="uniform"`` is the same cosine classifier on mean-pooled
  similarities (the control). Trained with ``fit_heads(..., per_view=True)``.
* :class:`TaskExpertHeads` (TaskExpert): the views are tokens; two
  :class:`representation.blocks.TaskExpertBlock` layers (K experts, per-task per-sample gates,
  multi-task memory) give one feature per task (geocell, country, climate).
* :class:`NuisanceSeparatedHeads` (SepCLR's mutual-information term): the shared block splits into a
  location part (the task heads) and a nuisance part (heads for hour and season); ``mi_penalty``
  is SepCLR's joint-entropy term between the two, so the location part carries less of the nuisance.
* :func:`whitened_embeddings` (WhitenedCSE / CCP): fused embeddings whitened with a transform fitted
  on the training set, for the retrieval refinement.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geoloc.model import GEOCELL
from representation.blocks import AttentionPooledSimilarity, EmbeddingWhitening, TaskExpertBlock
from representation.losses.align_uniform import joint_entropy_loss


def _trunk(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.LayerNorm(hidden))


def _masked_mean(x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return x.mean(dim=1)
    w = keep.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class ViewAttentionHeads(nn.Module):
    """``forward(views [B, V, D], keep=None) -> {task: logits}`` (CoLLAP-style geocell head).

    Args:
        dim: D; sizes: ``{task: classes}`` with ``"geocell"``; hidden: the shared per-view block.
        attn_dim, attention: the pooling (``"learned"`` or ``"uniform"``).
        init_scale: initial cosine logit scale (learned, log-parametrised).
    """

    def __init__(self, dim: int, sizes: dict[str, int], hidden: int = 256, attn_dim: int = 64,
                 attention: str = "learned", init_scale: float = 16.0) -> None:
        super().__init__()
        self.trunk = _trunk(dim, hidden)
        self.cells = nn.Parameter(torch.randn(sizes[GEOCELL], hidden) * 0.02)
        self.bias = nn.Parameter(torch.zeros(sizes[GEOCELL]))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.pool = AttentionPooledSimilarity(hidden, attn_dim, attention)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in sizes.items() if k != GEOCELL})

    def forward(self, views: torch.Tensor, keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.trunk(views)
        out = {GEOCELL: self.log_scale.exp() * self.pool(h, self.cells, keep) + self.bias}
        pooled = _masked_mean(h, keep)
        out.update({k: head(pooled) for k, head in self.heads.items()})
        return out


class TaskExpertHeads(nn.Module):
    """``forward(views [B, V, D], keep=None) -> {task: logits}``: views as tokens through ``layers``
    TaskExpert blocks (``num_experts`` experts, memory), one mean-pooled feature per task."""

    def __init__(self, dim: int, sizes: dict[str, int], hidden: int = 256, num_experts: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.tasks = list(sizes)
        self.proj = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(TaskExpertBlock(hidden, num_experts, len(sizes), memory=True) for _ in range(layers))
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in sizes.items()})

    def forward(self, views: torch.Tensor, keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        tokens = self.proj(views)
        if keep is not None:  # dropped views take the kept views' mean (means and gates unchanged by them)
            fill = _masked_mean(tokens, keep).unsqueeze(1).expand_as(tokens)
            tokens = torch.where(keep.unsqueeze(-1), tokens, fill)
        memory = None
        for blk in self.blocks:
            feats, memory = blk(tokens, memory)
        return {t: self.heads[t](feats[i].mean(dim=1)) for i, t in enumerate(self.tasks)}


class NuisanceSeparatedHeads(nn.Module):
    """``forward(fused [B, D]) -> {task: logits, nuisance task: logits, "location", "nuisance"}``.

    The task heads read the location features [B, hidden]; ``nuisance_sizes`` heads (e.g. hour
    bins, season) read the nuisance features [B, nuisance_dim]. :meth:`mi_penalty` is SepCLR's
    joint-entropy term between the two (normalised), to be added with a weight."""

    def __init__(self, dim: int, sizes: dict[str, int], nuisance_sizes: dict[str, int], hidden: int = 256,
                 nuisance_dim: int = 32, tau: float = 0.5) -> None:
        super().__init__()
        self.location = _trunk(dim, hidden)
        self.nuisance = _trunk(dim, nuisance_dim)
        self.tau = tau
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in sizes.items()})
        self.nuisance_heads = nn.ModuleDict({k: nn.Linear(nuisance_dim, n) for k, n in nuisance_sizes.items()})

    def forward(self, fused: torch.Tensor) -> dict[str, torch.Tensor]:
        s, c = self.location(fused), self.nuisance(fused)
        out = {k: h(s) for k, h in self.heads.items()}
        out.update({k: h(c) for k, h in self.nuisance_heads.items()})
        out["location"], out["nuisance"] = s, c
        return out

    def mi_penalty(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        return joint_entropy_loss(F.normalize(out["location"], dim=-1), F.normalize(out["nuisance"], dim=-1), self.tau)


def whitened_embeddings(train: np.ndarray, *others: np.ndarray, dim: int | None = None, eps: float = 1e-5
                        ) -> tuple[np.ndarray, ...]:
    """ZCA (or ``dim``-PCA) whitening fitted on ``train`` [N, D] and applied to it and ``others``."""
    w = EmbeddingWhitening(dim=dim, eps=eps).fit(torch.as_tensor(train, dtype=torch.float64))
    return tuple(w(torch.as_tensor(x, dtype=torch.float64)).numpy().astype(np.float32) for x in (train, *others))


__all__ = ["NuisanceSeparatedHeads", "TaskExpertHeads", "ViewAttentionHeads", "whitened_embeddings"]
