"""DreamLIP losses (Zheng et al., ECCV 2024): an image with K sub-captions of a long caption.

As in the released code (``zyf0619sjtu/DreamLIP`` ``open_clip/loss.py::ClipLoss.forward``):

* ``clip``: the CLIP loss between the images and their FIRST sub-caption, divided by K
  (``(CE_i2t + CE_t2i) / (2K)``). Option ``clip_captions="mean"``: the mean of the CLIP
  losses over all K sub-captions (the library's earlier reading).
* ``multipos``: images -> all gathered sub-captions with the image's own K sub-captions as
  positives, as a circle loss on unscaled cosines (margin 0.25, gamma 32) weighted 1/10
  (``multipos_weight=0.1``). Option ``multipos="softce"``: multi-positive soft cross-entropy
  (uniform targets over the K positives, scaled logits).
* ``grouping`` (fine-grained): each sub-caption pools the image patches it matches: its
  similarities to the M patch tokens are min-max normalised to [0, 1], entries below the
  threshold ``grouping_threshold`` (reference ``sgl_delta`` = 0.1; a negative value means 1/M)
  are zeroed and the rest renormalised to sum 1, so the pooled embedding is a convex
  combination of the patches; then the symmetric InfoNCE over the B*K (sub-caption, pooled
  patches) pairs with its own logit scale (``logit_scale_local``).

Every term goes through the shared gather and :func:`representation.distributed.rank_mean`
(DDP equals full-batch training). The reference's Sinkhorn OT term is not implemented.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.blocks import global_rows
from representation.distributed.gather import GatherSpec, gather_sizes, world
from representation.distributed.reduce import masked_mean
from representation.functional.circle import circle_loss_rows
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import contrastive_loss, gather_rows_and_keys
from representation.losses.multi_positive import clip_pair_loss
from representation.registry import register


def grouping_weights(text: torch.Tensor, patches: torch.Tensor, threshold: float = 0.1, *,
                     norm: str = "minmax", eps: float = 1e-10) -> torch.Tensor:
    """Sparse grouping weights [B, K, M] (each row non-negative and summing to 1).

    Args:
        text: [B, K, D] sub-caption embeddings (normalised).
        patches: [B, M, D] patch embeddings of the same images (normalised).
        threshold: weights below it are set to 0 (reference ``sgl_delta`` 0.1); negative: 1/M.
        norm: ``"minmax"`` (reference default) or ``"softmax"`` normalisation over the patches.

    ``s = <t_k, p_m>``, normalised over m, thresholded, divided by the row sum. A row whose
    similarities are all equal (min-max undefined) gets uniform weights (the reference would
    divide 0 by 0 there).
    """
    if text.dim() != 3 or patches.dim() != 3 or text.shape[0] != patches.shape[0] or text.shape[2] != patches.shape[2]:
        raise ValueError(f"expected text [B, K, D] and patches [B, M, D], got {tuple(text.shape)}, "
                         f"{tuple(patches.shape)}")
    if norm not in ("minmax", "softmax"):
        raise ValueError(f"norm must be 'minmax' or 'softmax', got {norm!r}")
    m = patches.shape[1]
    s = torch.einsum("bkd,bmd->bkm", text, patches)
    if norm == "softmax":
        s_norm = torch.softmax(s, dim=-1)
    else:
        lo, hi = s.min(dim=-1, keepdim=True).values, s.max(dim=-1, keepdim=True).values
        s_norm = (s - lo) / (hi - lo + eps)
    thr = 1.0 / m if threshold < 0 else threshold
    w = torch.where(s_norm < thr, torch.zeros_like(s_norm), s_norm)
    total = w.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(w, 1.0 / m)
    return torch.where(total > 0, w / total.clamp_min(torch.finfo(w.dtype).tiny), uniform)


def grouping_pool(text: torch.Tensor, patches: torch.Tensor, threshold: float = 0.1, *,
                  norm: str = "minmax") -> torch.Tensor:
    """Pooled visual embedding per sub-caption [B, K, D] = ``grouping_weights @ patches``."""
    return grouping_weights(text, patches, threshold, norm=norm) @ patches


def _caption_positives(rows: torch.Tensor, k: int, n_cols: int, dtype: torch.dtype) -> torch.Tensor:
    """[R, n_cols]: image ``rows[r]`` (global index) owns caption columns rows[r]*K .. rows[r]*K+K-1."""
    t = torch.zeros(rows.numel(), n_cols, dtype=dtype, device=rows.device)
    cols = rows.unsqueeze(1) * k + torch.arange(k, device=rows.device)
    t.scatter_(1, cols, 1.0)
    return t


def image_to_captions_multipos(image: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor | float,
                               spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Multi-positive soft-CE of images [B, D] against all gathered sub-captions [N*K, D]; the
    positives of image i are its own K sub-captions."""
    b, k, d = texts.shape
    n_cols = k * (sum(gather_sizes(b, device=image.device)[0]) if world()[1] > 1 else b)

    def targets(rows: torch.Tensor) -> torch.Tensor:
        return _caption_positives(rows, k, n_cols, image.dtype)

    loss, _ = contrastive_loss(image, texts.reshape(b * k, d), scale=scale, targets=targets, spec=spec)
    return loss


def image_to_captions_circle(image: torch.Tensor, texts: torch.Tensor, *, margin: float = 0.25,
                             gamma: float = 32.0, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """DreamLIP's circle loss of images [B, D] against all gathered sub-captions (cosines)."""
    b, k, d = texts.shape
    rows, all_caps, row_layout, _ = gather_rows_and_keys(image, texts.reshape(b * k, d), spec)
    sim = rows @ all_caps.T
    pos = _caption_positives(global_rows(row_layout, spec, image.device), k, all_caps.shape[0], sim.dtype) > 0
    losses, counted = circle_loss_rows(sim, pos, ~pos, margin, gamma)
    return masked_mean(losses, counted, spec)


@register("dreamlip", kind="loss")
class DreamLIPLoss(LossBase):
    """``forward(image [B, D], texts [B, K, D] (or [B, D] for K = 1), *, patches=None
    [B, M, D], logit_scale=None, local_logit_scale=None, return_dict=False)``.

    Args:
        clip_weight, multipos_weight, grouping_weight: term weights (0 turns a term off;
            ``grouping`` needs ``patches``). Reference defaults: 1, 0.1 (its circle loss / 10), 1.
        clip_captions: ``"first"`` (reference) or ``"mean"`` (see module docstring).
        multipos: ``"circle"`` (reference) or ``"softce"``; circle_margin / circle_gamma.
        grouping_threshold, grouping_norm: see :func:`grouping_weights`.
        separate_local_scale: the grouping term has its own scale (learnable when
            ``learn_scale``, initial temperature ``local_init_temperature``), as the reference's
            ``logit_scale_local``; else the global scale.
        normalize: L2-normalise image, texts and patches (and the pooled embeddings).

    The dict output holds ``dreamlip_clip_loss``, ``dreamlip_multipos_loss`` and
    ``dreamlip_grouping_loss`` (weighted; enabled terms only) summing to the total.
    """

    name = "dreamlip"
    citation = "Zheng et al., DreamLIP: Language-Image Pre-training with Long Captions, ECCV 2024"
    config_keys = (*SCALE_KEYS, "clip_weight", "multipos_weight", "grouping_weight", "clip_captions", "multipos",
                   "circle_margin", "circle_gamma", "grouping_threshold", "grouping_norm", "separate_local_scale",
                   "local_temperature", "local_init_temperature", "normalize", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 clip_weight: float = 1.0, multipos_weight: float = 0.1, grouping_weight: float = 1.0,
                 clip_captions: str = "first", multipos: str = "circle", circle_margin: float = 0.25,
                 circle_gamma: float = 32.0, grouping_threshold: float = 0.1, grouping_norm: str = "minmax",
                 separate_local_scale: bool = True, local_temperature: float | None = None,
                 local_init_temperature: float = 0.07, normalize: bool = True,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        if clip_captions not in ("first", "mean"):
            raise ValueError(f"clip_captions must be 'first' or 'mean', got {clip_captions!r}")
        if multipos not in ("circle", "softce"):
            raise ValueError(f"multipos must be 'circle' or 'softce', got {multipos!r}")
        if grouping_norm not in ("minmax", "softmax"):
            raise ValueError(f"grouping_norm must be 'minmax' or 'softmax', got {grouping_norm!r}")
        self.clip_weight, self.multipos_weight = float(clip_weight), float(multipos_weight)
        self.grouping_weight = float(grouping_weight)
        self.clip_captions, self.multipos = clip_captions, multipos
        self.circle_margin, self.circle_gamma = float(circle_margin), float(circle_gamma)
        self.grouping_threshold, self.grouping_norm = float(grouping_threshold), grouping_norm
        self.init_local_scale(separate_local_scale, local_temperature, local_init_temperature)
        self.normalize = bool(normalize)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, image: torch.Tensor, texts: torch.Tensor, *, patches: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, local_logit_scale: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if texts.dim() == 2:
            texts = texts.unsqueeze(1)
        if texts.dim() != 3 or image.dim() != 2 or texts.shape[0] != image.shape[0]:
            raise ValueError(f"expected image [B, D] and texts [B, K, D], got {tuple(image.shape)}, "
                             f"{tuple(texts.shape)}")
        if self.normalize:
            image, texts = F.normalize(image, dim=-1), F.normalize(texts, dim=-1)
            patches = None if patches is None else F.normalize(patches, dim=-1)
        scale = self.resolve_scale(logit_scale)
        k = texts.shape[1]
        terms: dict[str, torch.Tensor] = {}
        if self.clip_weight:
            if self.clip_captions == "first":
                clip = clip_pair_loss(image, texts[:, 0], scale, spec=self.gather) / k
            else:
                clip = torch.stack([clip_pair_loss(image, texts[:, j], scale, spec=self.gather)
                                    for j in range(k)]).mean()
            terms["dreamlip_clip_loss"] = self.clip_weight * clip
        if self.multipos_weight:
            if self.multipos == "circle":
                mp = image_to_captions_circle(image, texts, margin=self.circle_margin, gamma=self.circle_gamma,
                                              spec=self.gather)
            else:
                mp = image_to_captions_multipos(image, texts, scale, self.gather)
            terms["dreamlip_multipos_loss"] = self.multipos_weight * mp
        if self.grouping_weight:
            if patches is None:
                raise ValueError("the grouping term needs patches [B, M, D] (or set grouping_weight=0)")
            pooled = grouping_pool(texts, patches, self.grouping_threshold, norm=self.grouping_norm)
            if self.normalize:
                pooled = F.normalize(pooled, dim=-1)
            d = texts.shape[-1]
            local_scale = self.resolve_local_scale(logit_scale, local_logit_scale)
            terms["dreamlip_grouping_loss"] = self.grouping_weight * clip_pair_loss(
                texts.reshape(-1, d), pooled.reshape(-1, d), local_scale, spec=self.gather)
        if not terms:
            raise ValueError("all DreamLIP terms are disabled")
        total = torch.stack(list(terms.values())).sum()
        if not return_dict:
            return total
        return {**terms, "logs": {k_: v.detach() for k_, v in terms.items()}}
