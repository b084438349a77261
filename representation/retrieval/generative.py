"""Generative retrieval with n-gram identifiers at several granularities and task prompts (UGR:
Chen et al., "A Unified Generative Retriever for Knowledge-Intensive Language Tasks via Prompt
Learning", SIGIR 2023).

A context (document, passage, sentence, entity...) is identified by any of its n-grams: the
model *generates* an n-gram, decoding is constrained to n-grams that occur in the corpus of the
requested granularity (:class:`representation.decoding.Trie`), and the generated n-grams vote
for the contexts containing them (score = sum over beams of p(n-gram)). One model serves every
task / granularity; the task is told by a prompt: *discrete* (task words prepended to the
input), *continuous* (learned prompt vectors) or *hybrid* (both) -- :class:`TaskPrompts`.
Hierarchical identifiers (continent > country > admin-1 > cell for geolocation) are the special
case of one fixed "n-gram" per context: :class:`HierarchicalIds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from representation.decoding.trie import Trie
from representation.registry import register


class NGramIndex:
    """All distinct ``n``-grams of the ``contexts`` (token lists; a context shorter than ``n`` is
    its own identifier) in a trie, and which contexts hold each one."""

    def __init__(self, contexts: Sequence[Sequence[int]], n: int, eos_id: int) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self.owners: dict[tuple[int, ...], set[int]] = {}
        for c, toks in enumerate(contexts):
            toks = [int(t) for t in toks]
            grams = [tuple(toks)] if len(toks) <= n else [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
            for g in grams:
                if g:
                    self.owners.setdefault(g, set()).add(c)
        self.trie = Trie(self.owners, eos_id)

    def contexts_of(self, ngram: Sequence[int]) -> set[int]:
        return self.owners.get(tuple(int(t) for t in ngram), set())

    def vote(self, generated: Sequence[tuple[Sequence[int], float]]) -> list[tuple[int, float]]:
        """Contexts ranked by ``sum p(n-gram)`` over the generated ``(n-gram, log p)`` beams."""
        score: dict[int, float] = {}
        for gram, logp in generated:
            for c in self.contexts_of(gram):
                score[c] = score.get(c, 0.0) + math.exp(logp)
        return sorted(score.items(), key=lambda t: (-t[1], t[0]))


class HierarchicalIds:
    """Hierarchical identifiers: level values ``codes [N, L]`` (e.g. continent, country, admin-1,
    cell indices) map to tokens ``offset_l + value`` (one token range per level after
    ``base``); :attr:`trie` holds the valid paths. ``decode(tokens) -> codes``."""

    def __init__(self, codes: torch.Tensor | Sequence[Sequence[int]], sizes: Sequence[int], base: int, eos_id: int) -> None:
        self.sizes = [int(s) for s in sizes]
        self.offsets = [base + sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.vocab_end = base + sum(self.sizes)
        rows = torch.as_tensor(codes).long().tolist()
        paths = {tuple(self.encode(r)) for r in rows}
        self.trie = Trie(sorted(paths), eos_id)

    def encode(self, code: Sequence[int]) -> list[int]:
        if len(code) != len(self.sizes):
            raise ValueError(f"a code has {len(self.sizes)} levels, got {list(code)}")
        for v, s in zip(code, self.sizes, strict=True):
            if not 0 <= int(v) < s:
                raise ValueError(f"level value {v} outside [0, {s})")
        return [o + int(v) for o, v in zip(self.offsets, code, strict=True)]

    def decode(self, tokens: Sequence[int]) -> list[int]:
        return [int(t) - o for t, o in zip(tokens, self.offsets, strict=False)]


@register("task_prompts", kind="adapter")
class TaskPrompts(nn.Module):
    """Per-task prompts for one shared generative retriever (module docstring).

    ``forward(task_ids [B], embedding: nn.Embedding) -> [B, P, D]`` prompt vectors to prepend to
    the input embeddings (``prefix_embeds`` of :class:`representation.lm.TinyDecoderLM`, or
    concatenated to an encoder's input).

    Args:
        num_tasks, dim: tasks and model width.
        mode: "discrete" (embeddings of ``discrete_tokens[t]``, the task's words, no new
            parameters), "continuous" (``n_continuous`` learned vectors per task) or "hybrid"
            (discrete then continuous).
        discrete_tokens: per task, the token ids of its prompt words (equal lengths).
    """

    citation = ("Chen et al., A Unified Generative Retriever for Knowledge-Intensive Language Tasks via "
                "Prompt Learning, SIGIR 2023")
    config_keys = ("num_tasks", "dim", "mode", "n_continuous", "discrete_tokens")

    def __init__(self, num_tasks: int, dim: int, mode: str = "hybrid", n_continuous: int = 4,
                 discrete_tokens: Sequence[Sequence[int]] | None = None) -> None:
        super().__init__()
        if mode not in ("discrete", "continuous", "hybrid"):
            raise ValueError(f"mode must be discrete, continuous or hybrid, got {mode!r}")
        if mode != "continuous":
            if discrete_tokens is None or len(discrete_tokens) != num_tasks:
                raise ValueError("discrete / hybrid prompts need discrete_tokens for every task")
            if len({len(t) for t in discrete_tokens}) != 1:
                raise ValueError("every task's discrete prompt must have the same number of tokens (pad them)")
        self.num_tasks, self.dim, self.mode, self.n_continuous = int(num_tasks), int(dim), mode, int(n_continuous)
        self.discrete_tokens = None if discrete_tokens is None else [[int(t) for t in ts] for ts in discrete_tokens]
        if self.discrete_tokens is not None:
            self.register_buffer("tokens", torch.tensor(self.discrete_tokens, dtype=torch.long), persistent=False)
        self.continuous = (nn.Parameter(torch.randn(num_tasks, n_continuous, dim) * 0.02)
                           if mode != "discrete" else None)

    def forward(self, task_ids: torch.Tensor, embedding: nn.Embedding | None = None) -> torch.Tensor:
        parts = []
        if self.mode != "continuous":
            if embedding is None:
                raise ValueError("discrete prompts need the model's token embedding")
            parts.append(embedding(self.tokens[task_ids]))
        if self.continuous is not None:
            parts.append(self.continuous[task_ids])
        return torch.cat(parts, dim=1)

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_tasks": self.num_tasks, "dim": self.dim, "mode": self.mode, "n_continuous": self.n_continuous,
                "discrete_tokens": self.discrete_tokens}
