"""Multilingual lexical specialisation (Green, Ponzetto and Glavaš, "Massively Multilingual Lexical
Specialization of Multilingual Transformers", ACL 2023; code: tommaso-green/babelbert).

A multilingual encoder is fine-tuned with in-batch InfoNCE (MNRL) on pairs of synonyms from one
multilingual synset (BabelNet: words of one concept in many languages), optionally paired with the
synset's gloss. The pieces:

* :func:`synonym_pairs` turns synsets ``{synset id: [word, ...]}`` (and optional glosses) into
  (anchor, positive, synset id) pairs: every unordered pair of distinct words, and word-gloss pairs;
* batches come from :class:`representation.samplers.NoDuplicatesBatchSampler` with the synset id
  as the value, so no two pairs of one synset meet in a batch (a same-synset in-batch "negative"
  would be a false negative) and no word repeats (pass ``(synset, anchor, positive)`` values);
* the loss is :class:`representation.losses.InfoNCELoss` (``.mnrl()``, or symmetric).

:func:`lexical_batches` wires the first two together for a list of pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence

from representation.samplers.class_balanced import NoDuplicatesBatchSampler

BABELBERT_CITATION = ("Green, Ponzetto and Glavaš, Massively Multilingual Lexical Specialization of "
                      "Multilingual Transformers, ACL 2023")


def synonym_pairs(synsets: Mapping[Hashable, Sequence[str]], glosses: Mapping[Hashable, str] | None = None,
                  *, max_pairs_per_synset: int | None = None) -> list[tuple[str, str, Hashable]]:
    """(anchor, positive, synset) for every unordered pair of distinct words of a synset (in
    input order), then (word, gloss) pairs; ``max_pairs_per_synset`` caps each synset's pairs."""
    out: list[tuple[str, str, Hashable]] = []
    for sid, words in synsets.items():
        uniq = list(dict.fromkeys(w for w in words if w))
        pairs = [(a, b, sid) for a, b in itertools.combinations(uniq, 2)]
        if glosses is not None and sid in glosses:
            pairs += [(w, glosses[sid], sid) for w in uniq]
        out += pairs[:max_pairs_per_synset] if max_pairs_per_synset is not None else pairs
    return out


def lexical_batches(pairs: Sequence[tuple[str, str, Hashable]], batch_size: int, *, seed: int = 0,
                    num_replicas: int = 1, rank: int = 0) -> NoDuplicatesBatchSampler:
    """A no-duplicates batch sampler over ``pairs``: per global batch, synsets and words are unique."""
    values = [(("synset", sid), ("word", a.lower()), ("word", b.lower())) for a, b, sid in pairs]
    return NoDuplicatesBatchSampler(values, batch_size, seed=seed, num_replicas=num_replicas, rank=rank)
