"""Decoding strategies as configurable components (registry kind ``decoder``):
``decoder(model, input_ids, attention_mask=None, **start_kwargs)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.decoding.contrastive import contrastive_search
from representation.decoding.generate import generate
from representation.decoding.trie import Trie, trie_constrained_generate
from representation.registry import register


class _Decoder:
    config_keys: tuple[str, ...] = ()
    citation = ""

    def get_config_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.config_keys}


@register("greedy", kind="decoder")
class GreedyDecoder(_Decoder):
    """Greedy decoding (the baseline of contrastive search), optional eos / pad ids."""

    config_keys = ("max_new_tokens", "eos_id", "pad_id")

    def __init__(self, max_new_tokens: int = 32, eos_id: int | None = None, pad_id: int = 0) -> None:
        self.max_new_tokens, self.eos_id, self.pad_id = int(max_new_tokens), eos_id, int(pad_id)

    def __call__(self, model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 **kw: Any) -> torch.Tensor:
        return generate(model, input_ids, attention_mask, max_new_tokens=self.max_new_tokens, eos_id=self.eos_id,
                        pad_id=self.pad_id, **kw)


@register("contrastive_search", kind="decoder")
class ContrastiveSearch(_Decoder):
    """Contrastive search (:mod:`representation.decoding.contrastive`): ``alpha`` (degeneration
    penalty weight, 0 = greedy) and ``k`` candidates; the paper's defaults are alpha 0.6, k 4
    (open-ended text) to 10."""

    citation = "Su et al., A Contrastive Framework for Neural Text Generation, NeurIPS 2022"
    config_keys = ("alpha", "k", "max_new_tokens", "eos_id", "pad_id")

    def __init__(self, alpha: float = 0.6, k: int = 4, max_new_tokens: int = 32, eos_id: int | None = None,
                 pad_id: int = 0) -> None:
        if not 0.0 <= alpha <= 1.0 or k < 1:
            raise ValueError(f"need 0 <= alpha <= 1 and k >= 1, got alpha={alpha}, k={k}")
        self.alpha, self.k, self.max_new_tokens = float(alpha), int(k), int(max_new_tokens)
        self.eos_id, self.pad_id = eos_id, int(pad_id)

    def __call__(self, model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 **kw: Any) -> torch.Tensor:
        return contrastive_search(model, input_ids, attention_mask, alpha=self.alpha, k=self.k,
                                  max_new_tokens=self.max_new_tokens, eos_id=self.eos_id, pad_id=self.pad_id, **kw)


@register("trie_constrained", kind="decoder")
class TrieConstrainedDecoder(_Decoder):
    """Beam search restricted to the identifiers of ``trie`` (runtime argument): returns the
    ``num_beams`` best valid identifiers per row (UGR, generative retrieval)."""

    citation = ("Chen et al., A Unified Generative Retriever for Knowledge-Intensive Language Tasks via "
                "Prompt Learning, SIGIR 2023")
    config_keys = ("num_beams", "pad_id")
    runtime_keys = ("trie",)

    def __init__(self, trie: Trie, num_beams: int = 4, pad_id: int = 0) -> None:
        self.trie, self.num_beams, self.pad_id = trie, int(num_beams), int(pad_id)

    def __call__(self, model: nn.Module, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None = None,
                 **kw: Any) -> list[list[tuple[list[int], float]]]:
        return trie_constrained_generate(model, input_ids, self.trie, attention_mask, num_beams=self.num_beams,
                                         pad_id=self.pad_id, **kw)
