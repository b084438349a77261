"""Loss modules (thin shells over ``representation.functional``)."""

from __future__ import annotations

from representation.losses.base import LogitScale, LossBase, sum_losses
from representation.losses.infonce import InfoNCELoss
from representation.losses.siglip import SigLIPLoss

__all__ = ["InfoNCELoss", "LogitScale", "LossBase", "SigLIPLoss", "sum_losses"]
