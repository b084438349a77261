"""NegCLIP compositional hard-negative captions and the ARO swap-accuracy metric
(Yuksekgonul et al., "When and why vision-language models behave like bags-of-words,
and what to do about it?", ICLR 2023).

Every perturbation keeps the caption's bag of words: it only exchanges the positions of
two spans of the caption (characters outside the two spans are untouched).

* ``"category_swap"``: exchange two different phrases of the same category (e.g. two
  country names, ``"near the border of France and Spain"`` ->
  ``"near the border of Spain and France"``; or two colours / attributes).
* ``"word_swap"``: exchange two different non-stop words (word-order perturbation).
* ``"neighbour_replace"`` (opt-in; does NOT keep the bag of words): replace a place name by
  one of its geographic neighbours (``"a street in France"`` -> ``"a street in Belgium"``),
  a hard negative for geolocation captions. :func:`country_neighbours` builds the map from
  polygons, e.g. Natural Earth countries from :func:`geoloc.geo.boundaries.load_admin0`.

:class:`CompositionalTextNegatives` tries the strategies in order and reports a caption
it could not perturb as invalid (so the loss masks that column instead of training on a
"negative" identical to the positive).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from representation.augment.text import STOP_WORDS
from representation.registry import register

_WORD = re.compile(r"\w[\w'’-]*")
STRATEGIES = ("category_swap", "word_swap")
ALL_STRATEGIES = (*STRATEGIES, "neighbour_replace")


def _swap_spans(text: str, a: tuple[int, int], b: tuple[int, int]) -> str:
    """Exchange the contents of two non-overlapping spans [start, end)."""
    if a[0] > b[0]:
        a, b = b, a
    return text[:a[0]] + text[b[0]:b[1]] + text[a[1]:b[0]] + text[a[0]:a[1]] + text[b[1]:]


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({p for p in phrases if p}, key=len, reverse=True)  # longest first
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")


def category_swap(text: str, pattern: re.Pattern[str], rng: random.Random) -> str | None:
    """Swap two occurrences of *different* phrases matched by ``pattern``; None if impossible."""
    spans = [(m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)]
    pairs = [(x, y) for i, x in enumerate(spans) for y in spans[i + 1:] if x[2] != y[2]]
    if not pairs:
        return None
    x, y = rng.choice(pairs)
    return _swap_spans(text, x[:2], y[:2])


def word_swap(text: str, rng: random.Random, stop_words: Iterable[str] = STOP_WORDS) -> str | None:
    """Swap two different non-stop words; None if the caption has fewer than two."""
    stops = {s.lower() for s in stop_words}
    words = [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text) if m.group(0).lower() not in stops]
    pairs = [(x, y) for i, x in enumerate(words) for y in words[i + 1:] if x[2] != y[2]]
    if not pairs:
        return None
    x, y = rng.choice(pairs)
    return _swap_spans(text, x[:2], y[:2])


def neighbour_replace(text: str, pattern: re.Pattern[str], neighbours: Mapping[str, Sequence[str]],
                      rng: random.Random) -> str | None:
    """Replace one matched place name by a random neighbour of it; None if no matched name
    has a neighbour different from itself."""
    spans = [(m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)
             if any(n != m.group(0) for n in neighbours.get(m.group(0), ()))]
    if not spans:
        return None
    start, end, name = rng.choice(spans)
    new = rng.choice([n for n in neighbours[name] if n != name])
    return text[:start] + new + text[end:]


def country_neighbours(geometries: Sequence[Any], names: Sequence[str], *, tolerance_deg: float = 0.0
                       ) -> dict[str, list[str]]:
    """Neighbour map ``name -> sorted names`` of polygons that touch or intersect (after
    buffering by ``tolerance_deg`` degrees, to close small gaps between borders).

    Args:
        geometries: shapely (multi)polygons in lon/lat degrees, e.g. ``load_admin0().geometry``.
        names: one name per geometry (e.g. the ``admin`` column).
    """
    import shapely

    geoms = [g.buffer(tolerance_deg) if tolerance_deg > 0 else g for g in geometries]
    names = list(names)
    if len(geoms) != len(names):
        raise ValueError(f"{len(geoms)} geometries but {len(names)} names")
    tree = shapely.STRtree(geoms)
    out: dict[str, set[str]] = {n: set() for n in names}
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if names[i] != names[j]:
            out[names[i]].add(names[j])
    return {k: sorted(v) for k, v in out.items()}


def bag_of_words(text: str) -> dict[str, int]:
    """Word counts (``\\w`` runs), for checking that a perturbation keeps the bag of words."""
    out: dict[str, int] = {}
    for w in _WORD.findall(text):
        out[w] = out.get(w, 0) + 1
    return out


@register("compositional_text_negatives", kind="miner")
class CompositionalTextNegatives:
    """Make one bag-of-words-preserving hard-negative caption per caption.

    Args:
        categories: name -> phrases of that category (e.g. ``{"country": [...], "colour": [...]}``);
            phrases match whole words, longest first.
        strategies: order in which to try ``"category_swap"``, ``"word_swap"`` and (opt-in)
            ``"neighbour_replace"``.
        neighbours: place name -> neighbouring place names, for ``"neighbour_replace"``.
        seed: seed of the internal ``random.Random``.

    ``negs(captions) -> (negatives: list[str], valid: BoolTensor [B])``; an invalid
    negative is returned as the original caption (mask its column with ``valid``).
    """

    citation = ("Yuksekgonul et al., When and why vision-language models behave like bags-of-words, "
                "and what to do about it?, ICLR 2023")

    def __init__(self, categories: Mapping[str, Iterable[str]] | None = None,
                 strategies: Sequence[str] = STRATEGIES, seed: int | None = None,
                 neighbours: Mapping[str, Sequence[str]] | None = None) -> None:
        bad = [s for s in strategies if s not in ALL_STRATEGIES]
        if bad:
            raise ValueError(f"unknown strategies {bad}; use {ALL_STRATEGIES}")
        if "neighbour_replace" in strategies and not neighbours:
            raise ValueError("strategy 'neighbour_replace' needs a neighbours map")
        self.neighbours = {k: list(v) for k, v in (neighbours or {}).items()}
        self.neighbour_pattern = _phrase_pattern(self.neighbours)
        self.categories = {k: sorted(set(v)) for k, v in (categories or {}).items()}
        self.patterns = {k: p for k, v in self.categories.items() if (p := _phrase_pattern(v)) is not None}
        self.strategies = tuple(strategies)
        self.seed = seed
        self.rng = random.Random(seed)

    def perturb(self, caption: str) -> str | None:
        """One hard negative of ``caption`` (different from it; same bag of words unless
        ``"neighbour_replace"`` produced it) or None."""
        for strategy in self.strategies:
            if strategy == "category_swap":
                names = list(self.patterns)
                self.rng.shuffle(names)
                for name in names:
                    out = category_swap(caption, self.patterns[name], self.rng)
                    if out is not None and out != caption:
                        return out
            elif strategy == "neighbour_replace":
                if self.neighbour_pattern is not None:
                    out = neighbour_replace(caption, self.neighbour_pattern, self.neighbours, self.rng)
                    if out is not None and out != caption:
                        return out
            else:
                out = word_swap(caption, self.rng)
                if out is not None and out != caption:
                    return out
        return None

    def __call__(self, captions: Sequence[str]) -> tuple[list[str], torch.Tensor]:
        outs = [self.perturb(c) for c in captions]
        valid = torch.tensor([o is not None for o in outs], dtype=torch.bool)
        return [c if o is None else o for c, o in zip(captions, outs, strict=True)], valid

    def get_config_dict(self) -> dict[str, Any]:
        return {"categories": {k: list(v) for k, v in self.categories.items()},
                "strategies": list(self.strategies), "seed": self.seed,
                "neighbours": {k: list(v) for k, v in self.neighbours.items()} or None}


def aro_swap_accuracy(image: torch.Tensor, true_text: torch.Tensor, perturbed_text: torch.Tensor,
                      valid: torch.Tensor | None = None) -> float:
    """ARO-style accuracy: the fraction of images whose true caption scores strictly higher
    (cosine) than every one of its perturbed captions.

    Args:
        image: [N, D] image embeddings.
        true_text: [N, D] embeddings of the true captions.
        perturbed_text: [N, P] x D (shape [N, P, D]) embeddings of P perturbed captions per image.
        valid: optional [N, P] bool; invalid perturbations are ignored; rows without any
            valid perturbation are left out. Returns NaN if no row is left.
    """
    if perturbed_text.dim() == 2:
        perturbed_text = perturbed_text.unsqueeze(1)
    n = image.shape[0]
    if true_text.shape[0] != n or perturbed_text.shape[0] != n:
        raise ValueError("image, true_text and perturbed_text need the same N")
    img = F.normalize(image.float(), dim=-1)
    s_true = (img * F.normalize(true_text.float(), dim=-1)).sum(-1)
    s_neg = torch.einsum("nd,npd->np", img, F.normalize(perturbed_text.float(), dim=-1))
    if valid is None:
        valid = torch.ones_like(s_neg, dtype=torch.bool)
    valid = valid.reshape(s_neg.shape).to(device=s_neg.device, dtype=torch.bool)  # e.g. a CPU mask, CUDA scores
    s_neg = s_neg.masked_fill(~valid, float("-inf"))
    rows = valid.any(dim=1)
    if not rows.any():
        return float("nan")
    return float((s_true[rows] > s_neg[rows].max(dim=1).values).float().mean())
