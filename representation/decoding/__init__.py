"""Decoding on the key/value cache: greedy / sampling, beam search, contrastive search (Su et al.
2022) and trie-constrained generation (UGR / generative retrieval)."""

from __future__ import annotations

from representation.decoding.contrastive import contrastive_search, degeneration_penalty
from representation.decoding.decoders import ContrastiveSearch, GreedyDecoder, TrieConstrainedDecoder
from representation.decoding.generate import beam_search, generate
from representation.decoding.state import DecodeState, advance, select, start
from representation.decoding.trie import Trie, strip_eos, trie_constrained_generate

__all__ = ["ContrastiveSearch", "DecodeState", "GreedyDecoder", "Trie", "TrieConstrainedDecoder", "advance",
           "beam_search", "contrastive_search", "degeneration_penalty", "generate", "select", "start", "strip_eos",
           "trie_constrained_generate"]
