"""X-CLIP video-specific prompting: class text embeddings attend to the clip's visual tokens.

``text_out = text + alpha ⊙ G(text, visual)`` where ``G`` is a stack of cross-attention
decoder layers (queries = class text embeddings, keys/values = LayerNorm'd visual tokens) and
``alpha`` is a learnable per-dimension scale initialised to 0.1. ``alpha = 0`` gives the plain
text embeddings back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.blocks.cross_frame import XCLIP_CITATION
from representation.registry import register


class _CrossAttentionLayer(nn.Module):
    """q += MHA(LN(q), visual, visual); q += MLP(LN(q)). Shapes q [B, C, D], visual [B, L, D]."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        q = q + self.cross_attn(self.norm_q(q), visual, visual, need_weights=False)[0]
        return q + self.mlp(self.norm_mlp(q))


@register("video_specific_prompt", kind="adapter")
class VideoSpecificPrompt(nn.Module):
    """Video-specific prompt generator (X-CLIP).

    Args:
        dim: shared embedding width D of text and visual features.
        layers: cross-attention layers.
        heads: attention heads.
        alpha_init: initial value of the per-dimension scale ``alpha`` [D] (X-CLIP: 0.1).

    Forward:
        text: [C, D] (shared class embeddings) or [B, C, D].
        visual: [B, L, D] visual tokens of each clip (frames or patch tokens).
        returns [B, C, D] = text + alpha ⊙ G(text, visual).
    """

    citation = XCLIP_CITATION

    def __init__(self, dim: int, layers: int = 2, heads: int = 4, alpha_init: float = 0.1) -> None:
        super().__init__()
        self.dim, self.n_layers, self.heads, self.alpha_init = dim, layers, heads, alpha_init
        self.visual_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(_CrossAttentionLayer(dim, heads) for _ in range(layers))
        self.alpha = nn.Parameter(torch.full((dim,), float(alpha_init)))

    def delta(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """``G(text, visual)`` [B, C, D] before the alpha scale."""
        if visual.dim() != 3 or visual.shape[-1] != self.dim:
            raise ValueError(f"visual must be [B, L, {self.dim}], got {tuple(visual.shape)}")
        if text.dim() == 2:
            text = text.unsqueeze(0).expand(visual.shape[0], -1, -1)
        if text.dim() != 3 or text.shape[0] != visual.shape[0] or text.shape[-1] != self.dim:
            raise ValueError(f"text must be [C, {self.dim}] or [B, C, {self.dim}] with B = "
                             f"{visual.shape[0]}, got {tuple(text.shape)}")
        visual = self.visual_norm(visual)
        q = text
        for layer in self.layers:
            q = layer(q, visual)
        return q

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        base = text.unsqueeze(0).expand(visual.shape[0], -1, -1) if text.dim() == 2 else text
        return base + self.alpha * self.delta(text, visual)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "layers": self.n_layers, "heads": self.heads, "alpha_init": self.alpha_init}
