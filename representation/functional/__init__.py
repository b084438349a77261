"""Pure tensor functions. Losses in ``representation.losses`` are thin modules over these."""

from __future__ import annotations

from representation.functional.info_nce import contrastive_row_losses, info_nce
from representation.functional.sigmoid import sigmoid_pairwise_sum
from representation.functional.soft_ce import counted_mean, soft_cross_entropy

__all__ = ["contrastive_row_losses", "counted_mean", "info_nce", "sigmoid_pairwise_sum", "soft_cross_entropy"]
