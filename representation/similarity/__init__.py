"""Pairwise similarities [N, M] between query and key feature sets."""

from __future__ import annotations

from representation.similarity.pairwise import (
    CosineSimilarity,
    DotSimilarity,
    pairwise_cosine,
    pairwise_dot,
    pairwise_similarity,
)

__all__ = ["CosineSimilarity", "DotSimilarity", "pairwise_cosine", "pairwise_dot", "pairwise_similarity"]
