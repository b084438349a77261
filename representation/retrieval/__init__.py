"""Retrieval: a dense retriever that never returns the query itself, retrieval-augmented inputs
(demonstrations), optional pretrained encoders (MiniLM, offline), and generative retrieval with
n-gram / hierarchical identifiers and task prompts (UGR)."""

from __future__ import annotations

from representation.retrieval.dense import DenseRetriever, with_demonstrations
from representation.retrieval.encoders import MissingModelError, TinyLMEncoder, load_minilm
from representation.retrieval.generative import HierarchicalIds, NGramIndex, TaskPrompts

__all__ = ["DenseRetriever", "HierarchicalIds", "MissingModelError", "NGramIndex", "TaskPrompts", "TinyLMEncoder",
           "load_minilm", "with_demonstrations"]
