"""X-CLIP frame fusion blocks (Ni et al., ECCV 2022), used to fuse PIGEON's street-view headings.

* :class:`CrossFrameAttention`: one transformer block over per-frame token sequences in which
  every frame's class token is turned into a *message token*; the message tokens attend to each
  other across frames, then each frame's tokens attend to their own message token (intra-frame
  self-attention over ``L + 1`` tokens).
* :class:`MultiFrameIntegration` (MIT): a small transformer over per-frame embeddings
  ``[B, T, D]``, residual, then mean over frames -> ``[B, D]``.
* :func:`mean_fuse` and :class:`ViewFusion`: the ``fuse(view_emb [B, V, D]) -> [B, D]`` API with
  the mean baseline and the MIT variant side by side.

Without positional embeddings every block here is equivariant (per-frame outputs) or invariant
(fused output) to a permutation of the frames; the tests check exactly that.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

XCLIP_CITATION = (
    "Ni, Peng, Chen, Zhang, Meng, Fu, Xiang, Ling. Expanding Language-Image Pretrained Models for "
    "General Video Recognition. ECCV 2022."
)


class _MLP(nn.Sequential):
    """Linear(d, r*d) -> GELU -> Linear(r*d, d)."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


@register("cross_frame_attention", kind="block")
class CrossFrameAttention(nn.Module):
    """Cross-frame communication block with message tokens.

    Input ``x`` [B, T, L, D]: B clips (locations), T frames (views), L tokens per frame, token 0
    being the frame's class token. Output has the same shape.

    Steps (pre-norm residual, as in X-CLIP's CCT block):
      1. ``m = W_msg x[:, :, 0]`` [B, T, D]; ``m = m + MHA(LN(m))`` across the T frames;
      2. per frame, ``[x_t; m_t]`` ([L + 1] tokens) gets ``+ MHA(LN(.))`` and the message token
         is dropped again;
      3. ``x = x + MLP(LN(x))``.

    Args:
        dim: token width D.
        heads: attention heads (D must be divisible by it).
        mlp_ratio: hidden width of the MLP relative to D.
    """

    citation = XCLIP_CITATION

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.dim, self.heads, self.mlp_ratio = dim, heads, mlp_ratio
        self.message_fc = nn.Linear(dim, dim)
        self.message_ln = nn.LayerNorm(dim)
        self.message_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, frame_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, L, D] -> [B, T, L, D]. ``frame_padding_mask`` [B, T] bool, True = missing frame
        (its message token is ignored by the other frames)."""
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"expected x [B, T, L, {self.dim}], got {tuple(x.shape)}")
        b, t, n_tok, d = x.shape
        msg = self.message_fc(x[:, :, 0])  # [B, T, D]
        h = self.message_ln(msg)
        msg = msg + self.message_attn(h, h, h, key_padding_mask=frame_padding_mask, need_weights=False)[0]
        tokens = torch.cat([x, msg.unsqueeze(2)], dim=2).reshape(b * t, n_tok + 1, d)
        h = self.ln_1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        x = tokens[:, :n_tok].reshape(b, t, n_tok, d)
        return x + self.mlp(self.ln_2(x))

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "heads": self.heads, "mlp_ratio": self.mlp_ratio}


class _EncoderLayer(nn.Module):
    """Pre-norm self-attention + MLP block over [B, T, D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


def mean_fuse(view_emb: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over views: view_emb [B, V, D] -> [B, D].

    ``valid`` [B, V] bool (True = view present) averages only present views; a row with no
    valid view raises ValueError (nothing to fuse).
    """
    if view_emb.dim() != 3:
        raise ValueError(f"view_emb must be [B, V, D], got {tuple(view_emb.shape)}")
    if valid is None:
        return view_emb.mean(dim=1)
    if valid.shape != view_emb.shape[:2]:
        raise ValueError(f"valid {tuple(valid.shape)} must be [B, V] = {tuple(view_emb.shape[:2])}")
    counts = valid.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError(f"rows {torch.nonzero(counts == 0).flatten().tolist()} have no valid view")
    w = valid.to(view_emb.dtype).unsqueeze(-1)
    return (view_emb * w).sum(dim=1) / counts.to(view_emb.dtype).unsqueeze(-1)


@register("multi_frame_integration", kind="block")
class MultiFrameIntegration(nn.Module):
    """X-CLIP's multi-frame integration transformer: [B, T, D] -> [B, D].

    ``out = mean_t(x + Transformer(x + pos))`` (mean over valid frames when a mask is given).

    Args:
        dim: embedding width D.
        layers: transformer layers.
        heads: attention heads.
        max_frames: size of the positional table (ignored if ``positional=False``).
        positional: add learned frame positional embeddings (init N(0, 0.02)). Without them the
            output is invariant to frame order, which suits unordered views.
    """

    citation = XCLIP_CITATION

    def __init__(self, dim: int, layers: int = 1, heads: int = 4, max_frames: int = 8,
                 positional: bool = True, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.dim, self.n_layers, self.heads = dim, layers, heads
        self.max_frames, self.positional, self.mlp_ratio = max_frames, positional, mlp_ratio
        self.pos = nn.Parameter(torch.randn(max_frames, dim) * 0.02) if positional else None
        self.layers = nn.ModuleList(_EncoderLayer(dim, heads, mlp_ratio) for _ in range(layers))

    def frame_features(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame outputs ``x + Transformer(x + pos)`` [B, T, D]."""
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"expected [B, T, {self.dim}], got {tuple(x.shape)}")
        h = x
        if self.pos is not None:
            if x.shape[1] > self.max_frames:
                raise ValueError(f"{x.shape[1]} frames > max_frames={self.max_frames}")
            h = h + self.pos[: x.shape[1]]
        pad = None if valid is None else ~valid
        for layer in self.layers:
            h = layer(h, pad)
        return x + h

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, D], optional valid [B, T] bool -> fused [B, D]."""
        return mean_fuse(self.frame_features(x, valid), valid)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "layers": self.n_layers, "heads": self.heads,
                "max_frames": self.max_frames, "positional": self.positional, "mlp_ratio": self.mlp_ratio}


@register("view_fusion", kind="block")
class ViewFusion(nn.Module):
    """Fuse the V views of one location into one embedding: ``fuse(view_emb [B, V, D]) -> [B, D]``.

    ``mode="mean"``: :func:`mean_fuse` (no parameters, the baseline).
    ``mode="mit"``: :class:`MultiFrameIntegration` without positional embeddings (headings are
    unordered sets unless ``positional=True``).
    """

    citation = XCLIP_CITATION

    def __init__(self, dim: int, mode: str = "mean", layers: int = 1, heads: int = 4,
                 positional: bool = False, max_views: int = 8) -> None:
        super().__init__()
        if mode not in ("mean", "mit"):
            raise ValueError(f"mode must be 'mean' or 'mit', got {mode!r}")
        self.dim, self.mode, self.layers, self.heads = dim, mode, layers, heads
        self.positional, self.max_views = positional, max_views
        self.mit = (MultiFrameIntegration(dim, layers, heads, max_views, positional)
                    if mode == "mit" else None)

    def fuse(self, view_emb: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """view_emb [B, V, D] (valid [B, V] bool, optional) -> [B, D]."""
        if self.mit is None:
            return mean_fuse(view_emb, valid)
        return self.mit(view_emb, valid)

    def forward(self, view_emb: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.fuse(view_emb, valid)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "mode": self.mode, "layers": self.layers, "heads": self.heads,
                "positional": self.positional, "max_views": self.max_views}
