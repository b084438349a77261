"""Pure tensor functions. Losses in ``representation.losses`` are thin modules over these."""

from __future__ import annotations

from representation.functional.soft_ce import soft_cross_entropy

__all__ = ["soft_cross_entropy"]
