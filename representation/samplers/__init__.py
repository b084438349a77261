"""Batch samplers and multistage helpers."""

from __future__ import annotations

from representation.samplers.cluster import ClusterBatchSampler, MultistageEncoder, concat_stage_features

__all__ = ["ClusterBatchSampler", "MultistageEncoder", "concat_stage_features"]
