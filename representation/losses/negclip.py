"""NegCLIP loss (Yuksekgonul et al., ICLR 2023): CLIP with hard-negative captions.

The perturbed captions (:class:`representation.augment.negatives.CompositionalTextNegatives`)
are extra text columns for the image -> text direction: logits [B, B + E] (under DDP the
negatives are gathered like the captions: [B, W*B + W*E], so every image sees every rank's
hard negatives, exactly as in one process), labels unchanged. Optionally, hard-negative images
(e.g. nearest neighbours) are extra image columns for the text -> image direction. Negatives
are never used as query rows. With no negatives the loss is the CLIP loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.distributed.gather import GatherSpec
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.multi_positive import clip_pair_loss
from representation.registry import register


@register("negclip", kind="loss")
class NegCLIPLoss(LossBase):
    """``forward(image [B, D], text [B, D], *, neg_text=None [E, D], neg_text_valid=None [E],
    neg_image=None [F, D], neg_image_valid=None [F], logit_scale=None, return_dict=False)``."""

    name = "negclip"
    citation = ("Yuksekgonul et al., When and why vision-language models behave like bags-of-words, "
                "and what to do about it?, ICLR 2023")
    config_keys = (*SCALE_KEYS, "normalize", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 normalize: bool = True, gather: GatherSpec | dict[str, bool] | None = None,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.normalize = bool(normalize)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, image: torch.Tensor, text: torch.Tensor, *, neg_text: torch.Tensor | None = None,
                neg_text_valid: torch.Tensor | None = None, neg_image: torch.Tensor | None = None,
                neg_image_valid: torch.Tensor | None = None,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if self.normalize:
            image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
            neg_text = None if neg_text is None else F.normalize(neg_text, dim=-1)
            neg_image = None if neg_image is None else F.normalize(neg_image, dim=-1)
        loss = clip_pair_loss(image, text, self.resolve_scale(logit_scale), extra_b=neg_text,
                              extra_b_valid=neg_text_valid, extra_a=neg_image, extra_a_valid=neg_image_valid,
                              spec=self.gather)
        n_neg = 0 if neg_text is None else int(neg_text.shape[0] if neg_text_valid is None
                                               else neg_text_valid.sum())
        return self.output(loss, return_dict, num_text_negatives=n_neg)
