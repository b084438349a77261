"""CoLLAP's contrastive loss: symmetric InfoNCE on text-conditioned fusion scores.

``logits_ij = scale · S(a_i, t_j)`` with S from :class:`representation.blocks.AttentionPooledSimilarity`;
L = ½ (CE over texts for each item + CE over items for each text), positives on the diagonal.
The score is not a dot product of two vectors (the pooling depends on the text), so the logits are
built here; the gather (segments, masks and texts of all ranks), the row blocks and the DDP-exact
mean are the library's (:func:`representation.losses.engine.gather_rows_and_keys`,
:func:`representation.distributed.masked_mean`). One segment per item gives CLIP's loss.
"""

from __future__ import annotations

from typing import Any

import torch

from representation.blocks.attention_pool import COLLAP_CITATION, AttentionPooledSimilarity
from representation.distributed.gather import GatherSpec, gather, rank_offset_labels
from representation.distributed.reduce import masked_mean
from representation.functional.info_nce import contrastive_row_losses
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import gather_rows_and_keys
from representation.registry import register


@register("collap", kind="loss")
class CoLLAPLoss(LossBase):
    """``forward(segments [n, S, D], text [n, D], *, segment_mask=None, logit_scale=None, return_dict=False)``.

    Args:
        dim, attn_dim, attention: the :class:`AttentionPooledSimilarity` (owned by the loss, so its
            projections train with it).
        temperature / learn_scale: the logit scale.
        gather: cross-rank semantics.
    """

    name = "collap"
    citation = COLLAP_CITATION
    config_keys = (*SCALE_KEYS, "dim", "attn_dim", "attention", "gather")

    def __init__(self, dim: int, attn_dim: int = 64, attention: str = "learned", temperature: float | None = None,
                 learn_scale: bool = False, *, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.pool = AttentionPooledSimilarity(dim, attn_dim, attention)
        self.dim, self.attn_dim, self.attention = self.pool.dim, self.pool.attn_dim, self.pool.attention
        self.gather = GatherSpec.coerce(gather)

    def forward(self, segments: torch.Tensor, text: torch.Tensor, *, segment_mask: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if segments.shape[0] != text.shape[0]:
            raise ValueError(f"segments and text need the same rows, got {segments.shape[0]} and {text.shape[0]}")
        if segment_mask is None:
            segment_mask = torch.ones(segments.shape[:2], dtype=torch.bool, device=segments.device)
        scale = self.resolve_scale(logit_scale)
        nograd = GatherSpec(local_loss=False, with_grad=False)
        seg_rows, all_text, layout, _ = gather_rows_and_keys(segments, text, self.gather)
        all_mask = gather(segment_mask, nograd).tensor
        row_mask = segment_mask if self.gather.local_loss else all_mask
        labels = rank_offset_labels(segments.shape[0], segments.device, self.gather, sizes=layout.sizes)
        a2t = self.pool(seg_rows, all_text, row_mask) * scale
        text_rows, all_seg, _, _ = gather_rows_and_keys(text, segments, self.gather)
        t2a = self.pool(all_seg, text_rows, all_mask).T * scale
        loss_a, ok_a = contrastive_row_losses(a2t, labels)
        loss_t, ok_t = contrastive_row_losses(t2a, labels)
        loss_a, loss_t = masked_mean(loss_a, ok_a, self.gather), masked_mean(loss_t, ok_t, self.gather)
        return self.output(0.5 * (loss_a + loss_t), return_dict, loss_a2t=loss_a, loss_t2a=loss_t)
