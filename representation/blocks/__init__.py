"""Blocks: X-CLIP frame fusion, PixPro pixel propagation, task-routed mixture of experts."""

from __future__ import annotations

from representation.blocks.cross_frame import (
           CrossFrameAttention,
           MultiFrameIntegration,
           ViewFusion,
           mean_fuse,
)
from representation.blocks.pixel_propagation import PixelPropagationModule, propagation_weights
from representation.blocks.task_moe import TaskRoutedMoE, TaskRoutedResidualMLP

__all__ = ["CrossFrameAttention", "MultiFrameIntegration", "PixelPropagationModule", "TaskRoutedMoE",
           "TaskRoutedResidualMLP", "ViewFusion", "mean_fuse", "propagation_weights"]
