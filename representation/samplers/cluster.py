"""MCL (multi-stage contrastive learning) helpers: one-cluster-per-batch sampling and
multistage feature concatenation.

MCL trains in stages: after a stage, the data are clustered on that stage's features and
the next stage draws every batch from a single cluster, so in-batch negatives differ only
in features the previous stages did not separate. The final representation concatenates
the (normalised) features of all stages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler


class ClusterBatchSampler(Sampler[list[int]]):
    """Batch sampler whose every batch holds indices of one cluster only.

    Args:
        cluster_ids: [N] cluster id per dataset index (any hashable ints).
        batch_size: maximum batch size.
        drop_last: drop each cluster's final incomplete batch (clusters smaller than
            ``batch_size`` then contribute nothing).
        shuffle: shuffle indices within clusters and the order of batches (per epoch).
        seed: base seed; the epoch is added (call :meth:`set_epoch`).
        num_replicas, rank: DDP split: rank r takes batches r, r + W, ... of the epoch's
            (shuffled) batch list, truncated to a multiple of W so every rank gets the same
            number of batches and the ranks' shards stay disjoint.

    Each index appears in exactly one batch per epoch (single process; under DDP at most
    once, the up to W - 1 truncated batches change from epoch to epoch).
    """

    citation = ("Zhang et al., Learning the Unlearned: Mitigating Feature Suppression in Contrastive "
                "Learning (MCL), ECCV 2024")

    def __init__(self, cluster_ids: Sequence[int] | torch.Tensor, batch_size: int, *, drop_last: bool = False,
                 shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        ids = torch.as_tensor(cluster_ids).long().flatten()
        self.clusters: list[torch.Tensor] = [torch.nonzero(ids == c).flatten() for c in torch.unique(ids)]
        self.batch_size, self.drop_last, self.shuffle = batch_size, drop_last, shuffle
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        batches: list[list[int]] = []
        for members in self.clusters:
            order = members[torch.randperm(len(members), generator=g)] if self.shuffle else members
            for s in range(0, len(order), self.batch_size):
                chunk = order[s:s + self.batch_size]
                if len(chunk) < self.batch_size and self.drop_last:
                    continue
                batches.append(chunk.tolist())
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if self.num_replicas > 1:
            total = (len(batches) // self.num_replicas) * self.num_replicas
            batches = batches[:total][self.rank::self.num_replicas]
        yield from batches

    def __len__(self) -> int:
        n = 0
        for members in self.clusters:
            full, rest = divmod(len(members), self.batch_size)
            n += full + (1 if rest and not self.drop_last else 0)
        return n // self.num_replicas

    def get_config_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "drop_last": self.drop_last, "shuffle": self.shuffle,
                "seed": self.seed, "num_clusters": len(self.clusters)}


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


class MultistageEncoder(nn.Module):
    """Run the encoders of all stages and concatenate their features
    (:func:`concat_stage_features`). Earlier stages are frozen (no grad) when
    ``freeze_previous``; only the last stage trains.

    ``forward(x) -> [N, sum D_s]``.
    """

    citation = ClusterBatchSampler.citation

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
        return {"num_stages": len(self.stages), "weights": self.weights, "freeze_previous": self.freeze_previous}
