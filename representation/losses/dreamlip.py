"""DreamLIP losses (Zheng et al., ECCV 2024): an image with K sub-captions of a long caption.

Terms (each weighted; weight 0 turns it off):

* ``clip``: the CLIP loss between the image and each sub-caption, averaged over the K
  sub-captions (K = 1: the CLIP loss).
* ``multipos``: image -> all gathered sub-captions, with the image's own K sub-captions as
  positives (uniform targets). DreamLIP's code uses a circle-loss variant; this is the
  soft-CE multi-positive form (same positives and negatives, softmax instead of circle
  weighting).
* ``grouping``: each sub-caption pools the image patches it matches: similarities to the
  M patch tokens are min-max normalised to [0, 1] over the patches, entries below 1/M are
  zeroed and the rest renormalised to sum 1 (SPARC-style sparse grouping), so the pooled
  embedding is a convex combination of the patches. The symmetric InfoNCE over the B*K
  (sub-caption, pooled patches) pairs is the fine-grained term.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec, gather_features, world
from representation.losses.base import LossBase
from representation.losses.multi_positive import clip_pair_loss, multi_positive_nce


def grouping_weights(text: torch.Tensor, patches: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Sparse grouping weights [B, K, M] (each row non-negative and summing to 1).

    Args:
        text: [B, K, D] sub-caption embeddings.
        patches: [B, M, D] patch embeddings of the same images.

    ``s = <t_k, p_m>``, min-max normalised over m; weights below ``1 / M`` are set to 0 and
    the rest divided by their sum. A row whose similarities are all equal gets uniform
    weights.
    """
    if text.dim() != 3 or patches.dim() != 3 or text.shape[0] != patches.shape[0] or text.shape[2] != patches.shape[2]:
        raise ValueError(f"expected text [B, K, D] and patches [B, M, D], got {tuple(text.shape)}, "
                         f"{tuple(patches.shape)}")
    m = patches.shape[1]
    s = torch.einsum("bkd,bmd->bkm", text, patches)
    lo, hi = s.min(dim=-1, keepdim=True).values, s.max(dim=-1, keepdim=True).values
    span = hi - lo
    flat = span <= eps
    s_norm = torch.where(flat, torch.ones_like(s), (s - lo) / span.clamp_min(eps))
    w = s_norm * (s_norm >= 1.0 / m).to(s.dtype)
    return w / w.sum(dim=-1, keepdim=True)


def grouping_pool(text: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """Pooled visual embedding per sub-caption [B, K, D] = ``grouping_weights @ patches``."""
    return grouping_weights(text, patches) @ patches


def image_to_captions_multipos(image: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor | float,
                               spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Multi-positive InfoNCE of local images [B, D] against gathered sub-captions
    [W*B*K, D]; the positives of image i are its own K sub-captions."""
    b, k, d = texts.shape
    rank, _ = world()
    all_texts = gather_features(texts.contiguous(), spec)  # [W*B, K, D]
    logits = scale * image @ all_texts.reshape(-1, d).T  # [B, W*B*K]
    pos = torch.zeros_like(logits, dtype=torch.bool)
    rows = torch.arange(b, device=image.device)
    for j in range(k):
        pos[rows, (rows + rank * b) * k + j] = True
    return multi_positive_nce(logits, pos)


class DreamLIPLoss(LossBase):
    """``forward(image [B, D], texts [B, K, D] (or [B, D] for K = 1), *, patches=None
    [B, M, D], logit_scale=None, return_dict=False)``.

    Args:
        clip_weight, multipos_weight, grouping_weight: term weights (``grouping`` needs
            ``patches``). ``multipos_weight = grouping_weight = 0`` with K = 1 is CLIP.
        normalize: L2-normalise image, texts and patches (and the pooled embeddings).

    The dict output holds ``dreamlip_clip_loss``, ``dreamlip_multipos_loss`` and
    ``dreamlip_grouping_loss`` (weighted; enabled terms only) summing to the total.
    """

    name = "dreamlip"
    citation = "Zheng et al., DreamLIP: Language-Image Pre-training with Long Captions, ECCV 2024"
    config_keys = ("clip_weight", "multipos_weight", "grouping_weight", "normalize")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 clip_weight: float = 1.0, multipos_weight: float = 1.0, grouping_weight: float = 1.0,
                 normalize: bool = True, gather: GatherSpec = GatherSpec()) -> None:
        super().__init__(temperature, learn_scale)
        self.clip_weight, self.multipos_weight = clip_weight, multipos_weight
        self.grouping_weight = grouping_weight
        self.normalize = normalize
        self.gather = gather

    def forward(self, image: torch.Tensor, texts: torch.Tensor, *, patches: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if texts.dim() == 2:
            texts = texts.unsqueeze(1)
        if texts.dim() != 3 or image.dim() != 2 or texts.shape[0] != image.shape[0]:
            raise ValueError(f"expected image [B, D] and texts [B, K, D], got {tuple(image.shape)}, "
                             f"{tuple(texts.shape)}")
        if self.normalize:
            image, texts = F.normalize(image, dim=-1), F.normalize(texts, dim=-1)
            patches = None if patches is None else F.normalize(patches, dim=-1)
        scale = self.resolve_scale(logit_scale)
        terms: dict[str, torch.Tensor] = {}
        if self.clip_weight:
            clip = torch.stack([clip_pair_loss(image, texts[:, j], scale, spec=self.gather)
                                for j in range(texts.shape[1])]).mean()
            terms["dreamlip_clip_loss"] = self.clip_weight * clip
        if self.multipos_weight:
            terms["dreamlip_multipos_loss"] = self.multipos_weight * image_to_captions_multipos(
                image, texts, scale, self.gather)
        if self.grouping_weight:
            if patches is None:
                raise ValueError("the grouping term needs patches [B, M, D] (or set grouping_weight=0)")
            pooled = grouping_pool(texts, patches)
            if self.normalize:
                pooled = F.normalize(pooled, dim=-1)
            d = texts.shape[-1]
            terms["dreamlip_grouping_loss"] = self.grouping_weight * clip_pair_loss(
                texts.reshape(-1, d), pooled.reshape(-1, d), scale, spec=self.gather)
        if not terms:
            raise ValueError("all DreamLIP terms are disabled")
        total = torch.stack(list(terms.values())).sum()
        if not return_dict:
            return total
        return {**terms, "logs": {k: v.detach() for k, v in terms.items()}}
