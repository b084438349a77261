"""Heads: DSE siamese combination head, Hydra class-pair gate, DenseCLIP score maps."""

from __future__ import annotations

from representation.heads.gate import GateFilter
from representation.heads.score_map import pixel_text_score_map, score_map_loss
from representation.heads.siamese import SiameseCombineHead, siamese_features

__all__ = ["GateFilter", "SiameseCombineHead", "pixel_text_score_map", "score_map_loss", "siamese_features"]
