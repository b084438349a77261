"""Text augmentations: DreamLIP sub-caption sampling and EDA-style edits (CL2L recipe).

All functions are pure given a ``random.Random`` (pass a seeded one for reproducibility).

* :func:`split_sentences` / :func:`sub_caption_sampler` (DreamLIP, Zheng et al. 2024): a
  long caption is split into sentences and ``k`` of them are sampled as sub-captions
  (without replacement while possible; with replacement when the caption has fewer than
  ``k`` sentences).
* :func:`random_swap`, :func:`random_deletion`, :func:`drop_stop_words` and :class:`EDA`
  (synonym-free Easy Data Augmentation, as in Fini et al. 2023 "Improved baselines for
  vision-language pre-training"): token-level edits that never return an empty caption.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from typing import Any

from representation.registry import register

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(r"\S+")

STOP_WORDS: frozenset[str] = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "but",
    "is", "are", "was", "were", "be", "been", "this", "that", "these", "those", "it", "its", "as",
    "into", "near", "over", "under", "there", "here", "which", "who", "whom", "whose"
])
"""A small English stop-word list (lower case) for :func:`drop_stop_words`."""


def split_sentences(caption: str) -> list[str]:
    """Sentences of ``caption`` (split after . ! ? ; or at newlines), stripped, non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(caption) if s and s.strip()]


def sub_caption_sampler(caption: str, k: int, rng: random.Random | None = None) -> list[str]:
    """``k`` sub-captions of a long caption (DreamLIP).

    Distinct sentences are drawn without replacement (kept in caption order) when the
    caption has at least ``k`` sentences; otherwise every sentence is used once and the
    rest are drawn with replacement. A caption without sentence breaks is its own single
    sub-caption.

    Raises:
        ValueError: ``k < 1`` or an empty caption.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rng = rng or random.Random()
    sents = split_sentences(caption)
    if not sents:
        raise ValueError("cannot sample sub-captions from an empty caption")
    if len(sents) >= k:
        idx = sorted(rng.sample(range(len(sents)), k))
        return [sents[i] for i in idx]
    return sents + [rng.choice(sents) for _ in range(k - len(sents))]


def tokens(text: str) -> list[str]:
    """Whitespace tokens of ``text``."""
    return _TOKEN.findall(text)


def random_swap(words: Sequence[str], n_swaps: int, rng: random.Random) -> list[str]:
    """Swap two random positions ``n_swaps`` times (keeps the bag of words)."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n_swaps):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: Sequence[str], p: float, rng: random.Random) -> list[str]:
    """Delete each word with probability ``p``; one random word survives if all would go."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not words:
        return []
    kept = [w for w in words if rng.random() >= p]
    return kept if kept else [rng.choice(list(words))]


def drop_stop_words(words: Sequence[str], stop_words: Iterable[str] = STOP_WORDS) -> list[str]:
    """Remove stop words (case-insensitive); returns ``words`` unchanged if nothing would remain."""
    stops = {s.lower() for s in stop_words}
    kept = [w for w in words if w.lower().strip(".,;:!?") not in stops]
    return kept if kept else list(words)


@register("eda", kind="augment")
class EDA:
    """Synonym-free EDA: each call applies one operation chosen uniformly from the enabled
    ones (random swap, random deletion, stop-word drop) to the whitespace tokens.

    Args:
        n_swaps: swaps for the random-swap op (0 disables it).
        p_delete: deletion probability for the random-deletion op (0 disables it).
        drop_stop: enable the stop-word-drop op.
        seed: seed of the internal ``random.Random``.
    """

    citation = ("Wei & Zou, EDA: Easy Data Augmentation Techniques, EMNLP 2019; used by Fini et al., "
                "Improved baselines for vision-language pre-training, TMLR 2023")

    def __init__(self, n_swaps: int = 1, p_delete: float = 0.1, drop_stop: bool = True,
                 seed: int | None = None) -> None:
        self.n_swaps, self.p_delete, self.drop_stop = n_swaps, p_delete, drop_stop
        self.seed = seed
        self.rng = random.Random(seed)
        self.ops = [name for name, on in (("swap", n_swaps > 0), ("delete", p_delete > 0),
                                          ("stop", drop_stop)) if on]

    def __call__(self, text: str) -> str:
        words = tokens(text)
        if not self.ops or not words:
            return text
        op = self.rng.choice(self.ops)
        if op == "swap":
            words = random_swap(words, self.n_swaps, self.rng)
        elif op == "delete":
            words = random_deletion(words, self.p_delete, self.rng)
        else:
            words = drop_stop_words(words)
        return " ".join(words)

    def get_config_dict(self) -> dict[str, Any]:
        return {"n_swaps": self.n_swaps, "p_delete": self.p_delete, "drop_stop": self.drop_stop,
                "seed": self.seed}
