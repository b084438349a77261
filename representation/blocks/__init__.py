"""Blocks: X-CLIP frame fusion, PixPro pixel propagation, task-routed mixture of experts."""

from __future__ import annotations

from representation.blocks.attention_pool import AttentionPooledSimilarity, attention_pooled_similarity
from representation.blocks.cross_frame import (
           CrossFrameAttention,
           MultiFrameIntegration,
           ViewFusion,
           mean_fuse,
)
from representation.blocks.partitioned_lm import PartitionedLM
from representation.blocks.pixel_propagation import PixelPropagationModule, propagation_weights
from representation.blocks.task_expert import TaskExpertBlock
from representation.blocks.task_moe import TaskRoutedMoE, TaskRoutedResidualMLP
from representation.blocks.whitening import AsymmetricBatchNorm, EmbeddingWhitening, ShuffledGroupWhitening

__all__ = [
           "AsymmetricBatchNorm",
           "AttentionPooledSimilarity",
           "CrossFrameAttention",
           "EmbeddingWhitening",
           "MultiFrameIntegration",
           "PartitionedLM",
           "PixelPropagationModule",
           "ShuffledGroupWhitening",
           "TaskExpertBlock",
           "TaskRoutedMoE",
           "TaskRoutedResidualMLP",
           "ViewFusion",
           "attention_pooled_similarity",
           "mean_fuse",
           "propagation_weights",
]
