"""Augmentations: text (sub-captions, EDA, compositional negatives) and embedding (CLOSE)."""

from __future__ import annotations

from representation.augment.embedding import GaussianNoise, MeanShift
from representation.augment.negatives import CompositionalTextNegatives, aro_swap_accuracy
from representation.augment.render import (
           TextPerturbation,
           pixel_linguist_loss,
           render_text,
           typo,
           word_shuffle,
)
from representation.augment.text import EDA, split_sentences, sub_caption_sampler

__all__ = [
           "EDA",
           "CompositionalTextNegatives",
           "GaussianNoise",
           "MeanShift",
           "TextPerturbation",
           "aro_swap_accuracy",
           "pixel_linguist_loss",
           "render_text",
           "split_sentences",
           "sub_caption_sampler",
           "typo",
           "word_shuffle",
]
