"""DDP-aware batch samplers: every sampler builds the same sequence of GLOBAL batches on every
rank (a generator seeded with ``seed + epoch``), then rank r takes its part of each global batch.
At every step the ranks' batches therefore form one global batch with the sampler's property
(one cluster, m samples per class, no duplicates), which is what a gathered contrastive loss
sees. Call ``set_epoch(epoch)`` before each epoch, as with ``DistributedSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def split_sizes(total: int, parts: int) -> list[int]:
    """``total`` items over ``parts`` ranks as evenly as possible (the first ranks get one more)."""
    base, extra = divmod(total, parts)
    return [base + (1 if r < extra else 0) for r in range(parts)]


def rank_part(batch: Sequence[int], num_replicas: int, rank: int) -> list[int]:
    """Rank ``rank``'s contiguous part of a global batch (sizes from :func:`split_sizes`)."""
    sizes = split_sizes(len(batch), num_replicas)
    start = sum(sizes[:rank])
    return list(batch[start:start + sizes[rank]])


class GlobalBatchSampler(Sampler[list[int]]):
    """Base class: subclasses implement :meth:`global_batches` (a list of index lists, each of
    ``batch_size * num_replicas`` items or fewer, identical on every rank for a given epoch)."""

    def __init__(self, batch_size: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        self.batch_size, self.seed, self.num_replicas, self.rank = batch_size, seed, num_replicas, rank
        self.epoch = 0

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)

    def global_batches(self) -> list[list[int]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield rank_part(batch, self.num_replicas, self.rank)

    def __len__(self) -> int:
        return len(self.global_batches())
