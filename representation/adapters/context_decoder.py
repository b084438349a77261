"""DenseCLIP context decoder (Rao et al., CVPR 2022): language embeddings attend to the image.

``text_out = text + γ ⊙ Dec(text, visual)`` where ``Dec`` = project text and visual context to a
small width, a few transformer *decoder* layers (self-attention over the classes, cross-attention
to the visual tokens), project back. ``γ`` [D] is learnable, initialised to 1e-4, so training
starts from the plain CLIP text embeddings (``γ = 0`` gives them exactly).

:class:`CoOpContext` is the learnable prompt context DenseCLIP prepends to the class tokens; with
open_clip towers use :class:`representation.adapters.open_clip_prompts.PromptedCLIP` (text-only
prompts: ``SharedPromptLearner(n, 0, ...)``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

DENSECLIP_CITATION = (
    "Rao, Zhao, Chen, Tang, Zhu, Huang, Zhou, Lu. DenseCLIP: Language-Guided Dense Prediction with "
    "Context-Aware Prompting. CVPR 2022."
)


class _DecoderLayer(nn.Module):
    """Pre-norm: x += SelfAttn(LN x); x += CrossAttn(LN x, mem); x += MLP(LN x)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.cross_attn(self.norm2(x), mem, mem, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


@register("context_decoder", kind="adapter")
class ContextDecoder(nn.Module):
    """Text-to-visual context decoder with a γ-scaled residual.

    Args:
        dim: width D of the text and visual embeddings (CLIP's joint space).
        width: internal decoder width.
        layers / heads: decoder depth and attention heads.
        gamma_init: initial γ (DenseCLIP: 1e-4).

    Forward: ``text`` [C, D] or [B, C, D], ``visual`` [B, L, D] (global + pixel embeddings)
    -> [B, C, D].
    """

    citation = DENSECLIP_CITATION

    def __init__(self, dim: int, width: int = 64, layers: int = 3, heads: int = 4,
                 gamma_init: float = 1e-4, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.width, self.n_layers, self.heads = dim, width, layers, heads
        self.gamma_init, self.dropout = gamma_init, dropout
        self.memory_proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, width), nn.LayerNorm(width))
        self.text_proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, width))
        self.layers = nn.ModuleList(_DecoderLayer(width, heads, dropout) for _ in range(layers))
        self.out_proj = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        self.gamma = nn.Parameter(torch.full((dim,), float(gamma_init)))

    def decode(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """``Dec(text, visual)`` [B, C, D] before the γ scale."""
        if visual.dim() != 3 or visual.shape[-1] != self.dim:
            raise ValueError(f"visual must be [B, L, {self.dim}], got {tuple(visual.shape)}")
        if text.dim() == 2:
            text = text.unsqueeze(0).expand(visual.shape[0], -1, -1)
        if text.shape[0] != visual.shape[0] or text.shape[-1] != self.dim:
            raise ValueError(f"text {tuple(text.shape)} does not match visual {tuple(visual.shape)}")
        mem = self.memory_proj(visual)
        x = self.text_proj(text)
        for layer in self.layers:
            x = layer(x, mem)
        return self.out_proj(x)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        base = text.unsqueeze(0).expand(visual.shape[0], -1, -1) if text.dim() == 2 else text
        return base + self.gamma * self.decode(text, visual)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "width": self.width, "layers": self.n_layers, "heads": self.heads,
                "gamma_init": self.gamma_init, "dropout": self.dropout}


@register("coop_context", kind="adapter")
class CoOpContext(nn.Module):
    """Learnable context tokens prepended to class-name token embeddings (CoOp).

    ``forward(class_tokens [C, L, D]) -> [C, n_ctx + L, D]`` (context first). Use with a text
    tower that accepts token embeddings.
    """

    citation = DENSECLIP_CITATION

    def __init__(self, n_ctx: int, dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.n_ctx, self.dim, self.init_std = n_ctx, dim, init_std
        self.ctx = nn.Parameter(torch.randn(n_ctx, dim) * init_std)

    def forward(self, class_tokens: torch.Tensor) -> torch.Tensor:
        ctx = self.ctx.unsqueeze(0).expand(class_tokens.shape[0], -1, -1).to(class_tokens.dtype)
        return torch.cat([ctx, class_tokens], dim=1)

    def get_config_dict(self) -> dict[str, Any]:
        return {"n_ctx": self.n_ctx, "dim": self.dim, "init_std": self.init_std}
