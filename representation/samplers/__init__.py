"""Batch samplers (DDP-aware: the property holds for the gathered batch) and multistage helpers."""

from __future__ import annotations

from representation.samplers.base import GlobalBatchSampler, rank_part, split_sizes
from representation.samplers.class_balanced import MPerClassSampler, NoDuplicatesBatchSampler
from representation.samplers.cluster import ClusterBatchSampler, MultistageEncoder, concat_stage_features
from representation.samplers.synonym import lexical_batches, synonym_pairs
from representation.samplers.task_mixture import TaskMixtureSampler, mixing_rates

__all__ = [
    "ClusterBatchSampler",
    "GlobalBatchSampler",
    "MPerClassSampler",
    "MultistageEncoder",
    "NoDuplicatesBatchSampler",
    "TaskMixtureSampler",
    "concat_stage_features",
    "lexical_batches",
    "mixing_rates",
    "rank_part",
    "split_sizes",
    "synonym_pairs",
]
