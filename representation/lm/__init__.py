"""The small language-model substrate: a byte-level tokenizer (no download), a tiny decoder-only
LM and a tiny encoder-decoder with key/value caches, loss masks and sequence packing, and an
optional adapter for Hugging Face models (:mod:`representation.lm.hf`)."""

from __future__ import annotations

from representation.lm.models import (
    LMOutput,
    TinyDecoderLM,
    TinyEncoderDecoder,
    attention_mask_4d,
    positions_from_mask,
    positions_from_segments,
    select_cache,
)
from representation.lm.packing import (
    IGNORE,
    Example,
    PackedBatch,
    causal_labels,
    pack,
    pad,
    prompt_target,
    seq2seq_batch,
)
from representation.lm.tokenizer import ByteTokenizer

__all__ = ["IGNORE", "ByteTokenizer", "Example", "LMOutput", "PackedBatch", "TinyDecoderLM", "TinyEncoderDecoder",
           "attention_mask_4d", "causal_labels", "pack", "pad", "positions_from_mask", "positions_from_segments",
           "prompt_target", "select_cache", "seq2seq_batch"]
