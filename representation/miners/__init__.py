"""Miners: dense [N, M] masks / weights or per-anchor synthetic candidates, never index tuples."""

from __future__ import annotations

from representation.augment.negatives import CompositionalTextNegatives
from representation.miners.false_negative import FalseNegativeMasker, false_negative_mask
from representation.miners.mixup import MixupPairGenerator, MixupPairs

__all__ = ["CompositionalTextNegatives", "FalseNegativeMasker", "MixupPairGenerator", "MixupPairs",
           "false_negative_mask"]
