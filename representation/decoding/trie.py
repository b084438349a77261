"""Prefix trie over valid token sequences and trie-constrained decoding (generative retrieval,
UGR: Chen et al., "A Unified Generative Retriever for Knowledge-Intensive Language Tasks via
Prompt Learning", SIGIR 2023; the constrained decoding of GENRE / DSI).

Every valid identifier (a document's n-gram, a hierarchical location id continent > country >
admin-1 > cell, ...) is a token sequence; decoding may only emit a token that extends the prefix
generated so far to a prefix of some identifier, and a beam ends when a whole identifier
(followed by ``eos_id``) is emitted, so every finished output is a valid identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from representation.decoding.generate import beam_search


class Trie:
    """Prefix tree of token sequences; each stored sequence is terminated by ``eos_id``.

    ``allowed(prefix)`` lists the tokens that may follow ``prefix`` (empty when ``prefix`` is
    not a prefix of any stored sequence, or already complete).
    """

    def __init__(self, sequences: Iterable[Sequence[int]], eos_id: int) -> None:
        self.eos_id = int(eos_id)
        self.root: dict[int, Any] = {}
        self.size = 0
        for seq in sequences:
            self.add(seq)

    def add(self, seq: Sequence[int]) -> None:
        if self.eos_id in seq:
            raise ValueError(f"sequence {list(seq)} contains eos_id {self.eos_id}")
        node = self.root
        for t in [*map(int, seq), self.eos_id]:
            node = node.setdefault(t, {})
        self.size += 1

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        node = self.root
        for t in prefix:
            node = node.get(int(t))
            if node is None:
                return []
        return sorted(node)

    def __contains__(self, seq: Sequence[int]) -> bool:
        node = self.root
        for t in [*map(int, seq), self.eos_id]:
            node = node.get(t)
            if node is None:
                return False
        return True

    def __len__(self) -> int:
        return self.size


def strip_eos(seq: Sequence[int], eos_id: int) -> list[int]:
    """Tokens before the first ``eos_id`` (a decoded identifier without its terminator)."""
    out = []
    for t in seq:
        if int(t) == eos_id:
            break
        out.append(int(t))
    return out


@torch.no_grad()
def trie_constrained_generate(model: nn.Module, input_ids: torch.Tensor | None, trie: Trie,
                              attention_mask: torch.Tensor | None = None, *, num_beams: int = 1,
                              max_new_tokens: int | None = None, pad_id: int = 0, **start_kwargs: Any
                              ) -> list[list[tuple[list[int], float]]]:
    """The ``num_beams`` best valid identifiers per row: ``[[(ids, log-prob), ...], ...]``, best
    first. Beams that could not finish a valid identifier (fewer valid ids than beams) are dropped."""
    if max_new_tokens is None:
        max_new_tokens = _depth(trie.root)
    seqs, scores = beam_search(model, input_ids, attention_mask, num_beams=num_beams, max_new_tokens=max_new_tokens,
                               eos_id=trie.eos_id, pad_id=pad_id,
                               allowed_tokens_fn=lambda _row, prefix: trie.allowed(prefix), **start_kwargs)
    result = []
    for b in range(seqs.shape[0]):
        row = []
        for j in range(seqs.shape[1]):
            s = float(scores[b, j])
            toks = seqs[b, j].tolist()
            if s == float("-inf") or trie.eos_id not in toks:
                continue
            row.append((strip_eos(toks, trie.eos_id), s))
        result.append(row)
    return result


def _depth(node: dict[int, Any]) -> int:
    return 0 if not node else 1 + max(_depth(c) for c in node.values())
