"""COSMO's training loss: next-token cross-entropy of the partitioned LM plus image-text InfoNCE on
the unimodal text features (:class:`representation.blocks.PartitionedLM`):

    L = w_lm · CE(logits[:, :-1], tokens[:, 1:])  (padding ignored)  +  w_c · InfoNCE(image, text)

The LM mean runs over the predicted tokens of all ranks (DDP-exact); the contrastive term is
:class:`representation.losses.InfoNCELoss` (gathered negatives).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.blocks.partitioned_lm import COSMO_CITATION
from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import ratio_mean
from representation.losses.base import LossBase
from representation.losses.infonce import InfoNCELoss
from representation.registry import register, resolve, to_config


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None,
                    spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Mean CE of predicting ``tokens[:, 1:]`` from ``logits[:, :-1]`` over non-padding targets (all ranks)."""
    pred, target = logits[:, :-1], tokens[:, 1:]
    ce = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none").reshape(target.shape)
    keep = torch.ones_like(target, dtype=torch.bool) if pad_mask is None else ~pad_mask[:, 1:].to(torch.bool)
    return ratio_mean(torch.where(keep, ce, torch.zeros_like(ce)).sum(dim=1), keep.sum(dim=1), spec)


@register("cosmo", kind="loss")
class CosmoLoss(LossBase):
    """``forward(outputs {"text_features", "logits"}, tokens [B, L], image [B, D], *, pad_mask=None)``.

    Args:
        contrastive: the image-text loss (config or module; default CLIP InfoNCE, learnable scale).
        lm_weight, contrastive_weight: the two weights.
    """

    name = "cosmo"
    citation = COSMO_CITATION

    def __init__(self, contrastive: Any = None, lm_weight: float = 1.0, contrastive_weight: float = 1.0,
                 gather: GatherSpec | dict[str, bool] | None = None) -> None:
        super().__init__()
        self.contrastive = resolve(contrastive) if contrastive is not None else InfoNCELoss.clip()
        self.lm_weight, self.contrastive_weight = float(lm_weight), float(contrastive_weight)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, outputs: dict[str, torch.Tensor], tokens: torch.Tensor, image: torch.Tensor, *,
                pad_mask: torch.Tensor | None = None, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        out = {"lm_loss": self.lm_weight * next_token_loss(outputs["logits"], tokens, pad_mask, self.gather),
               "contrastive_loss": self.contrastive_weight * self.contrastive(image, outputs["text_features"])}
        total = out["lm_loss"] + out["contrastive_loss"]
        return {**out, "logs": {}} if return_dict else total

    def get_config_dict(self) -> dict[str, Any]:
        return {"contrastive": to_config(self.contrastive), "lm_weight": self.lm_weight,
                "contrastive_weight": self.contrastive_weight, "gather": self.gather.get_config_dict()}
