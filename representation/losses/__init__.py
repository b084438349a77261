"""Loss modules (thin shells over ``representation.functional``)."""

from __future__ import annotations

from representation.losses.base import LogitScale, LossBase, sum_losses
from representation.losses.infonce import InfoNCELoss

__all__ = ["InfoNCELoss", "LogitScale", "LossBase", "sum_losses"]
