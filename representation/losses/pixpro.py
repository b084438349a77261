"""PixPro pixel propagation loss (Xie et al., CVPR 2021).

Two crops of one image give feature maps ``q`` [B, C, H, W] (propagated, online branch) and ``k``
[B, C, H', W'] (target branch, detached by the caller or here). Pixel i of crop a and pixel j of
crop b are a positive pair when the distance between their centres, warped back to original
image coordinates and divided by the larger bin diagonal of the two crops, is below a threshold
(PixPro: 0.7). The loss is

    L = −2 · mean_b [ Σ_ij pos_bij cos(q_bi, k_bj) / Σ_ij pos_bij ]  ∈ [−2, 2]

(a sample without positive pairs contributes 0); −2 when the paired features are identical.
:class:`PixelPropagationLoss` averages over the samples of all ranks
(:func:`representation.distributed.rank_mean`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.blocks.pixel_propagation import PIXPRO_CITATION
from representation.distributed.reduce import masked_mean
from representation.losses.base import LossBase
from representation.registry import register


def crop_pixel_centers(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres of an H x W feature grid laid over each crop, in original image coordinates.

    Args:
        boxes: [B, 4] crops ``(x0, y0, x1, y1)`` in image coordinates (any unit, e.g. pixels).
    Returns:
        centres [B, H*W, 2] (x, y), row-major over the grid; bin diagonals [B].
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [B, 4] (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    x0, y0, x1, y1 = boxes.unbind(1)
    bw, bh = (x1 - x0) / width, (y1 - y0) / height  # [B]
    gx = torch.arange(width, dtype=boxes.dtype, device=boxes.device) + 0.5
    gy = torch.arange(height, dtype=boxes.dtype, device=boxes.device) + 0.5
    cx = x0[:, None, None] + gx[None, None, :] * bw[:, None, None]  # [B, 1, W]
    cy = y0[:, None, None] + gy[None, :, None] * bh[:, None, None]  # [B, H, 1]
    centres = torch.stack([cx.expand(-1, height, -1), cy.expand(-1, -1, width)], dim=-1)
    return centres.reshape(boxes.shape[0], height * width, 2), torch.sqrt(bw**2 + bh**2)


def pixpro_positive_mask(boxes_a: torch.Tensor, boxes_b: torch.Tensor, size_a: tuple[int, int],
                         size_b: tuple[int, int] | None = None, threshold: float = 0.7) -> torch.Tensor:
    """Bool [B, HaWa, HbWb]: normalised warped-centre distance < ``threshold``."""
    size_b = size_b or size_a
    ca, da = crop_pixel_centers(boxes_a, *size_a)
    cb, db = crop_pixel_centers(boxes_b, *size_b)
    dist = torch.cdist(ca, cb) / torch.maximum(da, db)[:, None, None]
    return dist < threshold


def pixel_propagation_rows(q: torch.Tensor, k: torch.Tensor, pos_mask: torch.Tensor) -> torch.Tensor:
    """Per-sample ``−2 · (mean cos over positive pairs)`` [B] (0 without positive pairs)."""
    qf = F.normalize(q.flatten(2), dim=1)
    kf = F.normalize(k.flatten(2), dim=1)
    cos = torch.einsum("bci,bcj->bij", qf, kf)
    if pos_mask.shape != cos.shape:
        raise ValueError(f"pos_mask {tuple(pos_mask.shape)} must be {tuple(cos.shape)}")
    m = pos_mask.to(cos.dtype)
    per_sample = (cos * m).sum(dim=(1, 2)) / m.sum(dim=(1, 2)).clamp_min(1.0)
    return -2.0 * per_sample


def pixel_propagation_loss(q: torch.Tensor, k: torch.Tensor, pos_mask: torch.Tensor) -> torch.Tensor:
    """``−2 · mean_b(mean cos over positive pairs)`` for q [B, C, Hq, Wq], k [B, C, Hk, Wk],
    pos_mask [B, HqWq, HkWk] bool (single process)."""
    return pixel_propagation_rows(q, k, pos_mask).mean()


@register("pixpro", kind="loss")
class PixelPropagationLoss(LossBase):
    """PixPro loss; pass either crop boxes or a precomputed positive mask.

    Args:
        threshold: positive-pair distance threshold in bin diagonals (PixPro: 0.7).
        detach_target: detach ``k`` (the momentum-encoder branch).

    Forward: ``q`` [B, C, H, W] propagated features, ``k`` [B, C, H', W'] target features,
    ``boxes_q`` / ``boxes_k`` [B, 4] crops in image coordinates, or ``mask`` [B, HW, H'W'].
    Dict output: ``pixpro_loss`` with log ``positives_per_sample``.
    """

    name = "pixpro"
    citation = PIXPRO_CITATION
    config_keys = ("threshold", "detach_target")

    def __init__(self, threshold: float = 0.7, detach_target: bool = True) -> None:
        super().__init__()
        self.threshold, self.detach_target = float(threshold), detach_target

    def forward(self, q: torch.Tensor, k: torch.Tensor, boxes_q: torch.Tensor | None = None,
                boxes_k: torch.Tensor | None = None, *, mask: torch.Tensor | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if mask is None:
            if boxes_q is None or boxes_k is None:
                raise ValueError("give boxes_q and boxes_k, or a positive mask")
            mask = pixpro_positive_mask(boxes_q, boxes_k, tuple(q.shape[-2:]), tuple(k.shape[-2:]),
                                        self.threshold)
        target = k.detach() if self.detach_target else k
        loss = masked_mean(pixel_propagation_rows(q, target, mask))
        return self.output(loss, return_dict, positives_per_sample=mask.sum(dim=(1, 2)).float().mean())
