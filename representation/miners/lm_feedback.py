"""UDR's candidate mining with language-model feedback (Li et al., "Unified Demonstration
Retriever for In-Context Learning", ACL 2023): retrieve the top-K bank entries of every query
with the current retriever (never the query itself), score each candidate by the feedback of a
language model (e.g. ``log p(gold output | candidate as demonstration, query)``), and sort the
candidates best first; the retriever is then trained with :class:`representation.losses.ListwiseRankLoss`
on these lists, and the mining is repeated with the updated retriever (iterative re-mining).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch

from representation.registry import register
from representation.retrieval.dense import DenseRetriever


@register("lm_feedback_miner", kind="miner")
class LMFeedbackMiner:
    """``__call__(query_emb [Q, D], bank_emb [N, D], feedback, *, query_ids) -> (cands [Q, K], lengths [Q])``.

    ``feedback(query_index, bank_indices list) -> scores list`` (higher = better demonstration).
    ``cands`` holds bank indices sorted by decreasing feedback (-1 padding after ``lengths[q]``).
    Args: ``k`` candidates retrieved per query, ``similarity`` of the retriever.
    """

    citation = "Li et al., Unified Demonstration Retriever for In-Context Learning, ACL 2023"
    config_keys = ("k", "similarity")

    def __init__(self, k: int = 8, similarity: str = "dot") -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k, self.similarity = int(k), similarity

    def __call__(self, query_emb: torch.Tensor, bank_emb: torch.Tensor,
                 feedback: Callable[[int, list[int]], Sequence[float]], *,
                 query_ids: Sequence[Hashable] | None = None, bank_ids: Sequence[Hashable] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        retriever = DenseRetriever(self.similarity).index(bank_emb, ids=bank_ids)
        _, idx = retriever.search(query_emb, self.k, query_ids=query_ids)
        out = torch.full_like(idx, -1)
        lengths = torch.zeros(idx.shape[0], dtype=torch.long)
        for q in range(idx.shape[0]):
            cands = [int(j) for j in idx[q] if int(j) >= 0]
            if not cands:
                continue
            scores = list(feedback(q, cands))
            order = sorted(range(len(cands)), key=lambda i: (-scores[i], i))
            out[q, : len(cands)] = torch.tensor([cands[i] for i in order])
            lengths[q] = len(cands)
        return out, lengths

    def get_config_dict(self) -> dict[str, Any]:
        return {"k": self.k, "similarity": self.similarity}
