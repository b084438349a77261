"""Adapters between the Trainer's ``loss_fn(features, batch)`` convention and the losses."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class PairLoss(nn.Module):
    """``loss_fn`` for two-tower models: ``features = (q [n, D], k [n, D])`` ->
    ``loss(q, k, return_dict=True)``. ``target_fn(batch) -> dict`` may add keyword
    arguments (``targets``, ``mask``, ``negatives``) built from the batch."""

    def __init__(self, loss: nn.Module, target_fn: Any = None) -> None:
        super().__init__()
        self.loss = loss
        self.target_fn = target_fn

    def forward(self, features: tuple[torch.Tensor, torch.Tensor], batch: Any) -> dict[str, Any]:
        q, k = features
        extra = self.target_fn(batch) if self.target_fn is not None else {}
        return self.loss(q, k, return_dict=True, **extra)
