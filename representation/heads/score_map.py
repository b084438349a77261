"""DenseCLIP pixel-text score maps: cosine similarity of every pixel embedding with every class
text embedding.

``S[b, c, h, w] = scale · <normalize(x[b, :, h, w]), normalize(t[b, c])>``. At H = W = 1 with the
pixel being the global image embedding this equals CLIP's image-text logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from representation.adapters.context_decoder import DENSECLIP_CITATION

__all__ = ["DENSECLIP_CITATION", "pixel_text_score_map", "score_map_loss"]


def pixel_text_score_map(pixels: torch.Tensor, text: torch.Tensor,
                         logit_scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """pixels [B, D, H, W], text [C, D] or [B, C, D] -> score map [B, C, H, W]."""
    if pixels.dim() != 4:
        raise ValueError(f"pixels must be [B, D, H, W], got {tuple(pixels.shape)}")
    if text.dim() == 2:
        text = text.unsqueeze(0).expand(pixels.shape[0], -1, -1)
    if text.shape[0] != pixels.shape[0] or text.shape[-1] != pixels.shape[1]:
        raise ValueError(f"text {tuple(text.shape)} does not match pixels {tuple(pixels.shape)}")
    x = F.normalize(pixels, dim=1)
    t = F.normalize(text, dim=-1)
    return logit_scale * torch.einsum("bdhw,bcd->bchw", x, t)


def score_map_loss(score_map: torch.Tensor, target: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """DenseCLIP's auxiliary identity-head loss: per-pixel CE of the (scaled) score map [B, C, H, W]
    against a label map [B, H', W'] (the score map is bilinearly resized to H' x W')."""
    if score_map.shape[-2:] != target.shape[-2:]:
        score_map = F.interpolate(score_map, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(score_map, target.long(), ignore_index=ignore_index)
