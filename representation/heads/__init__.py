"""Heads: DSE siamese combination head, Hydra class-pair gate, DenseCLIP score maps, CL2L view
projectors, MOFI large-vocabulary classifier."""

from __future__ import annotations

from representation.heads.gate import GateFilter
from representation.heads.large_vocab import LargeVocabClassifier
from representation.heads.score_map import pixel_text_score_map, score_map_loss
from representation.heads.siamese import SiameseCombineHead, siamese_features

__all__ = ["GateFilter", "LargeVocabClassifier", "SiameseCombineHead", "pixel_text_score_map", "score_map_loss", "siamese_features"]
