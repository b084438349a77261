"""Dense retrieval over a labelled bank (meta-training with demonstration retrieval: a DPR-style
retriever picks demonstrations that are concatenated to a seq2seq model's input; UDR's
candidate mining). The query itself is never returned: bank entries with the query's id, or the
same dedup key (e.g. the same text), are excluded before the top-k (the leakage test of
METHODS.md row 28)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from representation.registry import register


@register("dense_retriever", kind="retriever")
class DenseRetriever:
    """``index(embeddings [N, D], ids=None, keys=None)`` then ``search(queries [Q, D], k, *,
    query_ids=None, query_keys=None) -> (scores [Q, k], indices [Q, k])`` (indices into the bank,
    best first; -1 where fewer than k entries remain after exclusion).

    Args:
        similarity: "cosine" (default) or "dot".
        encoder: optional runtime callable ``texts -> [N, D]`` for :meth:`index_texts` /
            :meth:`search_texts` (e.g. :func:`representation.retrieval.encoders.load_minilm`).
    """

    citation = "Karpukhin et al., Dense Passage Retrieval for Open-Domain Question Answering, EMNLP 2020"
    config_keys = ("similarity",)
    runtime_keys = ("encoder",)

    def __init__(self, similarity: str = "cosine", encoder: Callable[[Sequence[str]], torch.Tensor] | None = None) -> None:
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.similarity, self.encoder = similarity, encoder
        self.bank: torch.Tensor | None = None
        self.ids: list[Hashable] | None = None
        self.keys: list[Hashable] | None = None

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return F.normalize(x, dim=-1) if self.similarity == "cosine" else x

    def index(self, embeddings: torch.Tensor, ids: Sequence[Hashable] | None = None,
              keys: Sequence[Hashable] | None = None) -> DenseRetriever:
        n = embeddings.shape[0]
        for name, v in (("ids", ids), ("keys", keys)):
            if v is not None and len(v) != n:
                raise ValueError(f"{name} has {len(v)} entries for {n} embeddings")
        self.bank = self._prep(embeddings.detach())
        self.ids = list(ids) if ids is not None else list(range(n))
        self.keys = list(keys) if keys is not None else None
        return self

    def exclusion_mask(self, n_queries: int, query_ids: Sequence[Hashable] | None,
                       query_keys: Sequence[Hashable] | None) -> torch.Tensor:
        """[Q, N] True where a bank entry is the query itself (same id or same key)."""
        assert self.ids is not None
        ex = torch.zeros(n_queries, len(self.ids), dtype=torch.bool)
        for name, qv, bank in (("query_ids", query_ids, self.ids), ("query_keys", query_keys, self.keys)):
            if qv is None or bank is None:
                continue
            if len(qv) != n_queries:
                raise ValueError(f"{name} has {len(qv)} entries for {n_queries} queries")
            pos: dict[Hashable, list[int]] = {}
            for j, v in enumerate(bank):
                pos.setdefault(v, []).append(j)
            for i, v in enumerate(qv):
                for j in pos.get(v, []):
                    ex[i, j] = True
        return ex

    def search(self, queries: torch.Tensor, k: int, *, query_ids: Sequence[Hashable] | None = None,
               query_keys: Sequence[Hashable] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.bank is None:
            raise ValueError("index() the bank before search()")
        scores = self._prep(queries.detach()).to(self.bank.device) @ self.bank.T
        ex = self.exclusion_mask(queries.shape[0], query_ids, query_keys).to(scores.device)
        scores = scores.masked_fill(ex, float("-inf"))
        kk = min(k, scores.shape[1])
        top, idx = scores.topk(kk, dim=1)
        idx = torch.where(torch.isfinite(top), idx, torch.full_like(idx, -1))
        if kk < k:
            pad = k - kk
            top = torch.cat([top, top.new_full((top.shape[0], pad), float("-inf"))], dim=1)
            idx = torch.cat([idx, idx.new_full((idx.shape[0], pad), -1)], dim=1)
        return top, idx

    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        if self.encoder is None:
            raise ValueError("this retriever has no encoder: pass encoder= or index embeddings directly")
        return self.encoder(list(texts))

    def index_texts(self, texts: Sequence[str], ids: Sequence[Hashable] | None = None) -> DenseRetriever:
        """Index ``texts`` (their exact text is the dedup key)."""
        return self.index(self._encode(texts), ids, keys=list(texts))

    def search_texts(self, texts: Sequence[str], k: int, query_ids: Sequence[Hashable] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.search(self._encode(texts), k, query_ids=query_ids, query_keys=list(texts))

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity": self.similarity}


def with_demonstrations(query: str, demos: Sequence[tuple[str, str]], *, sep: str = " <sep> ",
                        template: str = "input: {x} output: {y}") -> str:
    """Retrieval-augmented input: the demonstrations ``(input, output)`` rendered with
    ``template``, then the query with an empty output, joined by ``sep`` (the meta-trained
    seq2seq model reads the whole string)."""
    parts = [template.format(x=x, y=y) for x, y in demos]
    parts.append(template.format(x=query, y="").rstrip())
    return sep.join(parts)
