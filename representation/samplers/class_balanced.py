"""Class-balanced and duplicate-free batch samplers (pytorch-metric-learning's ``MPerClassSampler``,
sentence-transformers' ``NoDuplicatesBatchSampler``), DDP-aware: the property holds for the
GLOBAL batch that the ranks' batches form at each step (see :mod:`representation.samplers.base`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from representation.registry import register
from representation.samplers.base import GlobalBatchSampler


@register("m_per_class_sampler", kind="sampler")
class MPerClassSampler(GlobalBatchSampler):
    """Every global batch holds ``m`` samples of each of ``batch_size * num_replicas / m`` distinct
    classes (metric-learning batches with guaranteed positives).

    Args:
        labels: [N] class label per dataset index (runtime argument).
        m: samples per class per global batch; classes with fewer than ``m`` samples are drawn
            with replacement (as pytorch-metric-learning does).
        batch_size: samples per rank per step; ``batch_size * num_replicas`` must be a multiple
            of ``m`` and at most ``m`` times the number of classes.
        length: samples per epoch (default N); the epoch has ``length // (batch_size *
            num_replicas)`` steps.
        seed, num_replicas, rank: see :class:`GlobalBatchSampler`.
    """

    citation = ("Musgrave et al., PyTorch Metric Learning, arXiv:2008.09164, 2020 (MPerClassSampler); "
                "Hermans et al., In Defense of the Triplet Loss, arXiv:1703.07737, 2017 (P x K batches)")
    runtime_keys = ("labels",)

    def __init__(self, labels: Sequence[int] | torch.Tensor, m: int, batch_size: int, *, length: int | None = None,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(batch_size, seed=seed, num_replicas=num_replicas, rank=rank)
        lab = torch.as_tensor(labels).long().flatten()
        self.classes = torch.unique(lab)
        self.members = [torch.nonzero(lab == c).flatten() for c in self.classes]
        if m < 1 or self.global_batch_size % m:
            raise ValueError(f"batch_size * num_replicas = {self.global_batch_size} must be a multiple of m = {m}")
        if self.global_batch_size // m > len(self.classes):
            raise ValueError(f"a global batch needs {self.global_batch_size // m} classes, only {len(self.classes)} exist")
        self.m, self.length, self.n = m, length, int(lab.numel())

    def global_batches(self) -> list[list[int]]:
        g = self.generator()
        n_steps = (self.length if self.length is not None else self.n) // self.global_batch_size
        per_batch = self.global_batch_size // self.m
        batches = []
        for _ in range(n_steps):
            classes = torch.randperm(len(self.classes), generator=g)[:per_batch].tolist()
            batch: list[int] = []
            for c in classes:
                idx = self.members[c]
                if len(idx) >= self.m:
                    pick = idx[torch.randperm(len(idx), generator=g)[: self.m]]
                else:
                    pick = idx[torch.randint(len(idx), (self.m,), generator=g)]
                batch.extend(pick.tolist())
            batches.append(batch)
        return batches

    def get_config_dict(self) -> dict[str, Any]:
        return {"m": self.m, "batch_size": self.batch_size, "length": self.length, "seed": self.seed,
                "num_replicas": self.num_replicas, "rank": self.rank}


@register("no_duplicates_sampler", kind="sampler")
class NoDuplicatesBatchSampler(GlobalBatchSampler):
    """Global batches in which no two samples share a value (a text, a label, a location id), so
    in-batch negatives are never copies of the positive (sentence-transformers'
    ``NoDuplicatesBatchSampler``, extended to the gathered batch under DDP).

    Args:
        values: [N] hashable value per dataset index (runtime argument); a tuple/list entry holds
            several values that must all be unique in the batch (e.g. anchor and positive text).
        batch_size: samples per rank per step.
        drop_last: drop the final incomplete global batch.
        shuffle, seed, num_replicas, rank: see :class:`GlobalBatchSampler`.

    Greedy: samples are visited in a seeded random order; a sample whose values already occur in
    the batch being filled waits for a later batch. Every index is used at most once per epoch
    (samples whose own values repeat are never used).
    """

    citation = "Reimers and Gurevych, Sentence-BERT, EMNLP 2019 (sentence-transformers NoDuplicatesBatchSampler)"
    runtime_keys = ("values",)

    def __init__(self, values: Sequence[Hashable], batch_size: int, *, drop_last: bool = True, shuffle: bool = True,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(batch_size, seed=seed, num_replicas=num_replicas, rank=rank)
        self.values = [tuple(v) if isinstance(v, list | tuple) else (v,) for v in values]
        self.drop_last, self.shuffle = drop_last, shuffle

    def global_batches(self) -> list[list[int]]:
        n = len(self.values)
        order = torch.randperm(n, generator=self.generator()).tolist() if self.shuffle else list(range(n))
        remaining = dict.fromkeys(i for i in order if len(set(self.values[i])) == len(self.values[i]))
        size = self.global_batch_size
        batches: list[list[int]] = []
        while remaining:
            batch: list[int] = []
            seen: set[Hashable] = set()
            for i in remaining:  # scan in order until the batch is full
                vals = self.values[i]
                if not seen.isdisjoint(vals):
                    continue
                batch.append(i)
                seen.update(vals)
                if len(batch) == size:
                    break
            if len(batch) < size:
                if not self.drop_last and len(batch) >= self.num_replicas:
                    batches.append(batch)
                break
            batches.append(batch)
            for i in batch:
                del remaining[i]
        return batches

    def get_config_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "drop_last": self.drop_last, "shuffle": self.shuffle,
                "seed": self.seed, "num_replicas": self.num_replicas, "rank": self.rank}
