"""PixPro pixel propagation module (Xie et al., CVPR 2021).

``y_i = Σ_j s(x_i, x_j) · ĝ(x_j)`` with ``s = max(cos(x_i, x_j), 0)^γ`` over the pixels of one
feature map, ``g`` a 0-, 1- or 2-layer 1x1 transform and ``ĝ = g / ‖g‖`` L2-normalised over
channels, as upstream (``zdaxie/PixPro`` ``featprop`` normalises ``feat_value`` before the
product). Pixels are smoothed with their similar neighbours, which makes the pixel-level target
more spatially consistent. ``normalize_value=False`` propagates the raw ``g(x)`` (the library's
earlier reading, where pixels with a larger ‖g(x)‖ weigh more).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register

PIXPRO_CITATION = (
    "Xie, Lin, Zhang, Cao, Lin, Hu. Propagate Yourself: Exploring Pixel-Level Consistency for "
    "Unsupervised Visual Representation Learning. CVPR 2021."
)


def propagation_weights(x: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """``max(cos(x_i, x_j), 0)^γ`` [B, HW, HW] for x [B, C, H, W]."""
    f = F.normalize(x.flatten(2), dim=1)  # [B, C, HW]
    return torch.einsum("bci,bcj->bij", f, f).clamp_min(0).pow(gamma)


@register("pixel_propagation", kind="block")
class PixelPropagationModule(nn.Module):
    """PPM: x [B, C, H, W] -> y [B, C, H, W].

    Args:
        dim: channels C.
        gamma: sharpness exponent γ of the similarity (PixPro: 2).
        transform_layers: depth of g: 0 (identity), 1 (1x1 conv), 2 (1x1 conv, BN, ReLU, 1x1 conv).
        normalize_value: L2-normalise g(x) over channels before propagating (upstream: yes).
    """

    citation = PIXPRO_CITATION

    def __init__(self, dim: int, gamma: float = 2.0, transform_layers: int = 1, normalize_value: bool = True) -> None:
        super().__init__()
        if transform_layers not in (0, 1, 2):
            raise ValueError(f"transform_layers must be 0, 1 or 2, got {transform_layers}")
        self.dim, self.gamma, self.transform_layers = dim, gamma, transform_layers
        self.normalize_value = bool(normalize_value)
        if transform_layers == 0:
            self.transform: nn.Module = nn.Identity()
        elif transform_layers == 1:
            self.transform = nn.Conv2d(dim, dim, 1)
        else:
            self.transform = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True),
                                           nn.Conv2d(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.dim:
            raise ValueError(f"expected [B, {self.dim}, H, W], got {tuple(x.shape)}")
        b, c, h, w = x.shape
        s = propagation_weights(x, self.gamma)  # [B, HW, HW]
        g = self.transform(x).flatten(2)  # [B, C, HW]
        if self.normalize_value:
            g = F.normalize(g, dim=1)
        y = torch.einsum("bij,bcj->bci", s, g)
        return y.reshape(b, c, h, w)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "gamma": self.gamma, "transform_layers": self.transform_layers,
                "normalize_value": self.normalize_value}
