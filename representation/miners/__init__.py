"""Miners: dense [N, M] masks / weights or per-anchor synthetic candidates, never index tuples."""

from __future__ import annotations

from representation.augment.negatives import CompositionalTextNegatives
from representation.miners.false_negative import FalseNegativeMasker, false_negative_mask
from representation.miners.lm_feedback import LMFeedbackMiner
from representation.miners.metric import BatchHardMiner, MultiSimilarityMiner, PairMasks, TripletMarginMiner
from representation.miners.mixup import MixupPairGenerator, MixupPairs
from representation.miners.propensity import (
    PropensityWeighter,
    inverse_propensity_weights,
    length_ratio,
    sample_pairs,
    word_jaccard,
)
from representation.miners.teacher import TeacherHardNegativeMiner, top_k_negative_mask

__all__ = [
    "BatchHardMiner",
    "CompositionalTextNegatives",
    "FalseNegativeMasker",
    "LMFeedbackMiner",
    "MixupPairGenerator",
    "MixupPairs",
    "MultiSimilarityMiner",
    "PairMasks",
    "PropensityWeighter",
    "TeacherHardNegativeMiner",
    "TripletMarginMiner",
    "false_negative_mask",
    "inverse_propensity_weights",
    "length_ratio",
    "sample_pairs",
    "top_k_negative_mask",
    "word_jaccard",
]
