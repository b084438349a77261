"""COSMO's partitioned language model (Wang et al., "COSMO: COntrastive Streamlined MultimOdal
Model with Interleaved Pre-Training", arXiv:2401.00849, 2024; code: showlab/cosmo).

The LM's layers are split in two: the lower ``text_layers`` are unimodal (causal self-attention on
text only) and their output, pooled at the last real token, is the text feature that is contrasted
with the image; the upper ``cross_layers`` add cross-attention to the visual tokens and feed the
LM head. Because the contrastive feature is taken before any cross-attention, it cannot see the
image (no visual leakage into the contrastive text feature). Loss: LM + contrastive
(:class:`representation.losses.CosmoLoss`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

COSMO_CITATION = ("Wang et al., COSMO: COntrastive Streamlined MultimOdal Model with Interleaved "
                  "Pre-Training, arXiv:2401.00849, 2024")


@register("partitioned_lm", kind="block")
class PartitionedLM(nn.Module):
    """``forward(tokens [B, L] long, visual [B, V, D], pad_mask=None) -> {"text_features" [B, D],
    "logits" [B, L, vocab]}``; ``text_features(tokens, pad_mask=None) -> [B, D]`` needs no image.

    Args:
        vocab_size, dim, heads, max_len: the tiny transformer LM.
        text_layers: unimodal lower layers; cross_layers: upper layers with cross-attention.
        ``pad_mask`` [B, L] bool: True at padding (right padding).
    """

    citation = COSMO_CITATION

    def __init__(self, vocab_size: int, dim: int = 64, heads: int = 4, text_layers: int = 2, cross_layers: int = 2,
                 max_len: int = 64) -> None:
        super().__init__()
        self.vocab_size, self.dim, self.heads = int(vocab_size), int(dim), int(heads)
        self.text_layers, self.cross_layers, self.max_len = int(text_layers), int(cross_layers), int(max_len)
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        self.lower = nn.ModuleList(nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                                              norm_first=True) for _ in range(text_layers))
        self.upper = nn.ModuleList(nn.TransformerDecoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                                              norm_first=True) for _ in range(cross_layers))
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab_size)

    def _causal(self, length: int, device: torch.device) -> torch.Tensor:
        return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)

    def _lower(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len {self.max_len}")
        h = self.embed(tokens) + self.pos[: tokens.shape[1]]
        causal = self._causal(tokens.shape[1], tokens.device)
        for layer in self.lower:
            h = layer(h, src_mask=causal, is_causal=True)
        return h

    @staticmethod
    def _last(h: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
        if pad_mask is None:
            return h[:, -1]
        last = (~pad_mask.to(torch.bool)).sum(dim=1).clamp_min(1) - 1
        return h[torch.arange(h.shape[0], device=h.device), last]

    def text_features(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._last(self._lower(tokens, pad_mask), pad_mask)

    def forward(self, tokens: torch.Tensor, visual: torch.Tensor, pad_mask: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        h = self._lower(tokens, pad_mask)
        text = self._last(h, pad_mask)
        causal = self._causal(tokens.shape[1], tokens.device)
        for layer in self.upper:
            h = layer(h, visual, tgt_mask=causal, tgt_is_causal=True)
        return {"text_features": text, "logits": self.lm_head(self.norm(h))}

    def get_config_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "dim": self.dim, "heads": self.heads, "text_layers": self.text_layers,
                "cross_layers": self.cross_layers, "max_len": self.max_len}
