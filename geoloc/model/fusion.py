"""Multi-view fusion: the V views of one location -> one embedding.

PIGEON (PIGEON.md §1.4) embeds each of the four street-view headings and averages the four
embeddings ("simply averaging embeddings worked best"). Modes:

* ``"mean"``: mean over views (PIGEON's choice, no parameters).
* ``"attention"``: X-CLIP multi-frame integration (``representation.blocks.cross_frame.
  MultiFrameIntegration``, no positional embeddings: headings are an unordered set) over the
  view embeddings [B, V, D], residual, then the mean.
* ``"cross_frame"``: X-CLIP cross-frame attention with message tokens
  (``CrossFrameAttention``) over the views' ViT output tokens [B, V, L, D]; each view's
  tokens are then averaged and the views averaged. Needs a ViT tower.
"""

from __future__ import annotations

import torch
from torch import nn

from representation.blocks.cross_frame import CrossFrameAttention, ViewFusion

FUSIONS = ("mean", "attention", "cross_frame")


class TokenCrossFrameFusion(nn.Module):
    """Tokens [B, V, L, D] -> X-CLIP cross-frame block -> mean over tokens and views [B, D]."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.block = CrossFrameAttention(dim, heads=heads)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        pad = None if valid is None else ~valid
        x = self.block(tokens, frame_padding_mask=pad).mean(dim=2)  # [B, V, D]
        if valid is None:
            return x.mean(dim=1)
        w = valid.to(x.dtype).unsqueeze(-1)
        return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def build_fusion(mode: str, dim: int, *, heads: int = 4, layers: int = 1) -> nn.Module:
    """Fusion module for ``mode`` (see module docstring); ``dim`` is the view-embedding width D."""
    if mode not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {mode!r}")
    if mode == "cross_frame":
        return TokenCrossFrameFusion(dim, heads=heads)
    return ViewFusion(dim, mode="mean" if mode == "mean" else "mit", layers=layers, heads=heads)
