"""Batch samplers (DDP-aware: the property holds for the gathered batch) and multistage helpers."""

from __future__ import annotations

from representation.samplers.base import GlobalBatchSampler, rank_part, split_sizes
from representation.samplers.class_balanced import MPerClassSampler, NoDuplicatesBatchSampler
from representation.samplers.cluster import ClusterBatchSampler, MultistageEncoder, concat_stage_features

__all__ = ["ClusterBatchSampler", "GlobalBatchSampler", "MPerClassSampler", "MultistageEncoder",
           "NoDuplicatesBatchSampler", "concat_stage_features", "rank_part", "split_sizes"]
