"""DebCSE's inverse-propensity-weighted pair sampling (Miao et al., "DebCSE: Rethinking Unsupervised
Contrastive Sentence Embedding Learning in the Debiasing Perspective", CIKM 2023).

Contrastive pairs drawn at random inherit the biases of the data: positives that share many words
or the same length, negatives that are trivially different on the surface. DebCSE samples pairs
with probability inversely proportional to their propensity, the frequency of their surface
similarity among the candidates, so the sampled pairs cover every surface-similarity level about
equally, and uses a semantic score (a frozen encoder's cosine) to decide which candidates may be
positives (high semantic similarity) or negatives (low, avoiding false negatives).

* :func:`inverse_propensity_weights` ``w_ij = 1 / p(bin(s_ij))`` over the candidate pairs, with p the
  histogram of the surface scores s (``bins`` equal bins over ``value_range``);
* :func:`sample_pairs` draws k candidates per row with probability ∝ w (without replacement);
* :class:`PropensityWeighter` combines both for positives and negatives and returns dense masks
  ``(positives [N, M], negatives [N, M])`` for :class:`representation.losses.InfoNCELoss`
  (``targets=positives``, ``mask=positives | negatives``);
* :func:`word_jaccard` and :func:`length_ratio` are surface similarities between texts.

DebCSE's code is not released; the bins and the sampling form are the library's reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from representation.registry import register

DEBCSE_CITATION = ("Miao, Zhang, Wang, Li and Zhou, DebCSE: Rethinking Unsupervised Contrastive Sentence "
                   "Embedding Learning in the Debiasing Perspective, CIKM 2023")


def word_jaccard(a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
    """[len(a), len(b)] Jaccard similarity of the lower-cased word sets."""
    sa, sb = [set(t.lower().split()) for t in a], [set(t.lower().split()) for t in b]
    return torch.tensor([[len(x & y) / max(len(x | y), 1) for y in sb] for x in sa], dtype=torch.float64)


def length_ratio(a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
    """[len(a), len(b)] min(len) / max(len) of the word counts (1 = same length)."""
    la = torch.tensor([max(len(t.split()), 1) for t in a], dtype=torch.float64)
    lb = torch.tensor([max(len(t.split()), 1) for t in b], dtype=torch.float64)
    return torch.minimum(la[:, None], lb[None]) / torch.maximum(la[:, None], lb[None])


def inverse_propensity_weights(scores: torch.Tensor, candidates: torch.Tensor, bins: int = 10,
                               value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """``1 / p(bin)`` for candidate pairs (0 elsewhere); p = share of candidates in the bin."""
    if scores.shape != candidates.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and candidates {tuple(candidates.shape)} differ")
    lo, hi = value_range
    idx = ((scores.to(torch.float64) - lo) / (hi - lo) * bins).floor().clamp(0, bins - 1).long()
    cand = candidates.to(torch.bool)
    counts = torch.bincount(idx[cand], minlength=bins).to(torch.float64)
    p = counts / counts.sum().clamp_min(1)
    w = 1.0 / p.clamp_min(torch.finfo(torch.float64).tiny)[idx]
    return torch.where(cand, w, torch.zeros_like(w))


def sample_pairs(weights: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bool [N, M]: k columns per row drawn ∝ ``weights`` without replacement (all candidates of a
    row with fewer than k; none for a row without candidates)."""
    out = torch.zeros(weights.shape, dtype=torch.bool)
    for i in range(weights.shape[0]):
        w = weights[i].to(torch.float64).cpu()
        n = int((w > 0).sum())
        if n == 0:
            continue
        pick = torch.multinomial(w, min(k, n), replacement=False, generator=generator)
        out[i, pick] = True
    return out.to(weights.device)


@register("propensity_weighter", kind="miner")
class PropensityWeighter:
    """``__call__(surface [N, M], semantic [N, M], *, valid=None, generator=None) -> (pos, neg)``.

    Args:
        num_positives, num_negatives: pairs drawn per anchor.
        pos_threshold: semantic score at or above which a candidate may be a positive.
        neg_threshold: semantic score below which a candidate may be a negative.
        bins, value_range: the surface-score histogram.
        ipw: False samples candidates uniformly (the biased baseline).
    """

    citation = DEBCSE_CITATION

    def __init__(self, num_positives: int = 1, num_negatives: int = 16, pos_threshold: float = 0.8,
                 neg_threshold: float = 0.5, bins: int = 10, value_range: tuple[float, float] = (0.0, 1.0),
                 ipw: bool = True) -> None:
        if neg_threshold > pos_threshold:
            raise ValueError("neg_threshold must not exceed pos_threshold")
        self.num_positives, self.num_negatives = int(num_positives), int(num_negatives)
        self.pos_threshold, self.neg_threshold = float(pos_threshold), float(neg_threshold)
        self.bins, self.value_range, self.ipw = int(bins), (float(value_range[0]), float(value_range[1])), bool(ipw)

    def weights(self, surface: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        if not self.ipw:
            return candidates.to(torch.float64)
        return inverse_propensity_weights(surface, candidates, self.bins, self.value_range)

    def __call__(self, surface: torch.Tensor, semantic: torch.Tensor, *, valid: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ok = torch.ones(surface.shape, dtype=torch.bool, device=surface.device) if valid is None else valid.to(torch.bool)
        pos_cand = ok & (semantic >= self.pos_threshold)
        neg_cand = ok & (semantic < self.neg_threshold)
        pos = sample_pairs(self.weights(surface, pos_cand), self.num_positives, generator)
        neg = sample_pairs(self.weights(surface, neg_cand), self.num_negatives, generator)
        return pos, neg

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_positives": self.num_positives, "num_negatives": self.num_negatives,
                "pos_threshold": self.pos_threshold, "neg_threshold": self.neg_threshold, "bins": self.bins,
                "value_range": list(self.value_range), "ipw": self.ipw}
