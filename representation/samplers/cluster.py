"""MCL (multi-stage contrastive learning) helpers: one-cluster-per-batch sampling and
multistage feature concatenation.

MCL trains in stages: after a stage, the data are clustered on that stage's features and
the next stage draws every batch from a single cluster, so in-batch negatives differ only
in features the previous stages did not separate. The final representation concatenates
the (normalised) features of all stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register
from representation.samplers.base import GlobalBatchSampler


@register("cluster_batch_sampler", kind="sampler")
class ClusterBatchSampler(GlobalBatchSampler):
    """Batch sampler whose every (global) batch holds indices of one cluster only (MCL).

    Args:
        cluster_ids: [N] cluster id per dataset index (any ints); a runtime argument.
        batch_size: samples per rank per step.
        drop_last: drop each cluster's final incomplete global batch (clusters smaller than
            ``batch_size * num_replicas`` then contribute nothing).
        shuffle: shuffle indices within clusters and the order of batches (per epoch).
        seed: base seed; the epoch is added (call :meth:`set_epoch`).
        num_replicas, rank: DDP split. As in the reference ``MCL_batch_sampler_DDP``, each
            cluster is split across the ranks and every rank walks the clusters in the same
            order: at every step ALL ranks' batches come from the same cluster, so the gathered
            contrastive batch is one cluster. A cluster's last, incomplete global batch (when not
            dropped) is split as evenly as possible (ranks may differ by one sample; the
            library's gather handles uneven batches); one smaller than ``num_replicas`` is dropped.

    Each index appears in at most one batch per epoch (exactly one in a single process
    without ``drop_last``).
    """

    citation = ("Zhang et al., Learning the Unlearned: Mitigating Feature Suppression in Contrastive "
                "Learning (MCL), ECCV 2024")
    runtime_keys = ("cluster_ids",)

    def __init__(self, cluster_ids: Sequence[int] | torch.Tensor, batch_size: int, *, drop_last: bool = False,
                 shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(batch_size, seed=seed, num_replicas=num_replicas, rank=rank)
        ids = torch.as_tensor(cluster_ids).long().flatten()
        self.clusters: list[torch.Tensor] = [torch.nonzero(ids == c).flatten() for c in torch.unique(ids)]
        self.drop_last, self.shuffle = drop_last, shuffle

    def global_batches(self) -> list[list[int]]:
        g = self.generator()
        size = self.global_batch_size
        batches: list[list[int]] = []
        for members in self.clusters:
            order = members[torch.randperm(len(members), generator=g)] if self.shuffle else members
            for s in range(0, len(order), size):
                chunk = order[s:s + size]
                if len(chunk) < size and (self.drop_last or len(chunk) < self.num_replicas):
                    continue
                batches.append(chunk.tolist())
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def get_config_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "drop_last": self.drop_last, "shuffle": self.shuffle,
                "seed": self.seed, "num_replicas": self.num_replicas, "rank": self.rank}


def concat_stage_features(features: Sequence[torch.Tensor], weights: Sequence[float] | None = None
                          ) -> torch.Tensor:
    """Concatenate per-stage features [N, D_s] into [N, sum_s D_s].

    Each stage is L2-normalised and multiplied by ``sqrt(w_s)`` with weights summing to 1
    (default uniform), so the result has unit norm and the cosine similarity of two
    concatenated vectors is the ``w``-weighted mean of the per-stage cosines.
    """
    if not features:
        raise ValueError("need at least one stage")
    w = torch.full((len(features),), 1.0 / len(features), dtype=torch.float64) if weights is None \
        else torch.as_tensor(list(weights), dtype=torch.float64)
    if w.shape != (len(features),) or (w < 0).any() or not torch.isclose(w.sum(), torch.tensor(1.0, dtype=w.dtype)):
        raise ValueError(f"weights must be {len(features)} non-negative numbers summing to 1")
    return torch.cat([F.normalize(f, dim=-1) * float(ws) ** 0.5 for f, ws in zip(features, w, strict=True)],
                     dim=-1)


@register("multistage_encoder", kind="block")
class MultistageEncoder(nn.Module):
    """Run the encoders of all stages and concatenate their features
    (:func:`concat_stage_features`). Earlier stages are frozen (no grad) when
    ``freeze_previous``; only the last stage trains.

    ``forward(x) -> [N, sum D_s]``.
    """

    citation = ClusterBatchSampler.citation
    runtime_keys = ("stages",)

    def __init__(self, stages: Sequence[nn.Module], weights: Sequence[float] | None = None,
                 freeze_previous: bool = True) -> None:
        super().__init__()
        if not stages:
            raise ValueError("need at least one stage encoder")
        self.stages = nn.ModuleList(stages)
        self.weights = None if weights is None else list(weights)
        self.freeze_previous = freeze_previous
        if freeze_previous:
            for stage in self.stages[:-1]:
                stage.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for i, stage in enumerate(self.stages):
            if self.freeze_previous and i < len(self.stages) - 1:
                with torch.no_grad():
                    feats.append(stage(x))
            else:
                feats.append(stage(x))
        return concat_stage_features(feats, self.weights)

    def get_config_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "freeze_previous": self.freeze_previous}
