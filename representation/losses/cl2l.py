"""The improved CLIP recipe of Fini et al. ("Improved baselines for vision-language
pre-training", TMLR 2023; code ``facebookresearch/clip-rocket`` ``losses.py::CL2LLoss``).

CLIP plus ``A`` augmented views: each view pairs an augmented image embedding with an
augmented (EDA, :class:`representation.augment.text.EDA`) caption embedding, both from
their own projector (:class:`ViewProjectors`). The augmented terms use label smoothing
(0.1); the total is the mean of the global CLIP term and the A augmented terms, so
``num_augs = 0`` is the CLIP loss and ``label_smoothing = 0`` makes each augmented term a
plain CLIP (cross-entropy) loss.

The reference gathers features without gradient (only local anchors get gradient); here
the gather follows :class:`~representation.distributed.gather.GatherSpec` (default: with
gradient, equal to single-process full-batch training).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.distributed.gather import GatherSpec
from representation.losses.base import LossBase
from representation.losses.multi_positive import clip_pair_loss

CL2L_CITATION = "Fini et al., Improved baselines for vision-language pre-training, TMLR 2023"


class ViewProjectors(nn.Module):
    """One linear projector per view (index 0 = the global CLIP view, 1..A = augmented
    views): ``proj(x [B, D_in], view) -> [B, D_out]``."""

    citation = CL2L_CITATION

    def __init__(self, in_dim: int, out_dim: int, num_augs: int, bias: bool = False) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(in_dim, out_dim, bias=bias) for _ in range(num_augs + 1))

    def forward(self, x: torch.Tensor, view: int) -> torch.Tensor:
        return self.heads[view](x)

    def get_config_dict(self) -> dict[str, Any]:
        return {"in_dim": self.heads[0].in_features, "out_dim": self.heads[0].out_features,
                "num_augs": len(self.heads) - 1}


class CL2LLoss(LossBase):
    """``forward(image [B, D], text [B, D], *, image_views=None [A, B, D], text_views=None
    [A, B, D], logit_scale=None, return_dict=False)``.

    Dict output: ``clip_loss`` (global term / (1 + A)) and ``cl2l_aug_loss`` (sum of the
    augmented terms / (1 + A)); they sum to the total.
    """

    name = "cl2l"
    citation = CL2L_CITATION
    config_keys = ("label_smoothing", "normalize")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 label_smoothing: float = 0.1, normalize: bool = True, gather: GatherSpec = GatherSpec()) -> None:
        super().__init__(temperature, learn_scale)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.normalize = normalize
        self.gather = gather

    def forward(self, image: torch.Tensor, text: torch.Tensor, *, image_views: torch.Tensor | None = None,
                text_views: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if (image_views is None) != (text_views is None):
            raise ValueError("give both image_views and text_views, or neither")
        if image_views is not None and (image_views.dim() != 3 or image_views.shape != text_views.shape):
            raise ValueError(f"views must both be [A, B, D], got {tuple(image_views.shape)} and "
                             f"{tuple(text_views.shape)}")
        norm = (lambda x: F.normalize(x, dim=-1)) if self.normalize else (lambda x: x)
        scale = self.resolve_scale(logit_scale)
        base = clip_pair_loss(norm(image), norm(text), scale, spec=self.gather)
        augs = [] if image_views is None else [
            clip_pair_loss(norm(iv), norm(tv), scale, label_smoothing=self.label_smoothing, spec=self.gather)
            for iv, tv in zip(image_views, text_views, strict=True)]
        denom = 1 + len(augs)
        total = (base + sum(augs)) / denom
        if not return_dict:
            return total
        out: dict[str, Any] = {"clip_loss": base / denom}
        if augs:
            out["cl2l_aug_loss"] = sum(augs) / denom
        out["logs"] = {"clip": base.detach(), "num_augs": len(augs),
                       **{f"aug{i}": a.detach() for i, a in enumerate(augs)}}
        return out
