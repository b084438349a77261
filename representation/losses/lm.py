"""BLOOMZ / xP3 language-model loss: target tokens only, normalised per sample inside packed
sequences (see :mod:`representation.functional.lm`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed.gather import GatherSpec
from representation.distributed.reduce import rank_mean
from representation.functional.lm import target_only_lm_loss
from representation.registry import register


@register("target_only_lm", kind="loss")
class TargetOnlyLMLoss(nn.Module):
    """``forward(logits [B, T, V], labels [B, T], segment_ids [B, T] | None, *, return_dict)``.

    The loss is ``sum_samples mean_{target tokens of the sample} NLL / #samples`` with
    ``normalize="sample"`` (the reference's ``--norm-target-loss``: every consecutive run of
    target tokens weighs 1; equal to per-sample normalisation when each sample has one target
    run, as in xP3's prompt -> answer samples), or the mean NLL over all target tokens with
    ``normalize="token"``. Input tokens (label -100) get zero loss and zero gradient. Under DDP
    (each rank holding its own rows) the mean runs over the samples of all ranks
    (``distributed.rank_mean``): the value is the full-batch loss on every rank.
    """

    name = "lm"
    citation = ("Muennighoff et al., Crosslingual Generalization through Multitask Finetuning, ACL 2023 "
                "(BLOOMZ / xP3)")
    config_keys = ("normalize",)

    def __init__(self, normalize: str = "sample") -> None:
        super().__init__()
        if normalize not in ("sample", "token"):
            raise ValueError(f"normalize must be 'sample' or 'token', got {normalize!r}")
        self.normalize = normalize

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, segment_ids: torch.Tensor | None = None, *,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        total, count = target_only_lm_loss(logits, labels, segment_ids, normalize=self.normalize)
        loss = rank_mean(total, count, GatherSpec())
        if not return_dict:
            return loss
        return {f"{self.name}_loss": loss, "logs": {"terms": count.detach()}}

    def get_config_dict(self) -> dict[str, Any]:
        return {"normalize": self.normalize}
