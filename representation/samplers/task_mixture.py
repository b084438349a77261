"""Task-mixture sampling for multi-task / instruction training (T5's examples-proportional
mixing with a cap, temperature mixing; used by In-BoXBART, UL2, xP3 / BLOOMZ recipes).

The mixing rate of task i is ``r_i = w_i / sum_j w_j`` with

* ``"proportional"``: ``w_i = min(n_i, cap)`` (``cap=None``: no cap),
* ``"temperature"``: ``w_i = min(n_i, cap) ** (1 / temperature)`` (temperature 1 = proportional),
* ``"uniform"``: ``w_i = 1``,
* ``"weights"``: the given ``weights``.

Each step draws a task with these rates, then the task's next example from its own seeded
permutation (tasks cycle independently), so the realised proportions converge to the rates
(tested with a multinomial tolerance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from representation.registry import register
from representation.samplers.base import GlobalBatchSampler


def mixing_rates(sizes: Sequence[int], mode: str = "proportional", *, cap: int | None = None,
                 temperature: float = 1.0, weights: Sequence[float] | None = None) -> list[float]:
    """Mixing rates [T] (sum 1) for tasks of ``sizes`` (module docstring)."""
    if any(n < 1 for n in sizes):
        raise ValueError(f"every task needs at least one example, got sizes {list(sizes)}")
    capped = [min(n, cap) if cap is not None else n for n in sizes]
    if mode == "proportional":
        w = [float(c) for c in capped]
    elif mode == "temperature":
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        w = [float(c) ** (1.0 / temperature) for c in capped]
    elif mode == "uniform":
        w = [1.0] * len(sizes)
    elif mode == "weights":
        if weights is None or len(weights) != len(sizes) or any(x < 0 for x in weights) or sum(weights) <= 0:
            raise ValueError("mode 'weights' needs one non-negative weight per task, not all 0")
        w = [float(x) for x in weights]
    else:
        raise ValueError(f"unknown mixing mode {mode!r}: proportional, temperature, uniform or weights")
    total = sum(w)
    return [x / total for x in w]


@register("task_mixture_sampler", kind="sampler")
class TaskMixtureSampler(GlobalBatchSampler):
    """Batches of global example indices over tasks concatenated in order (task t's examples are
    ``offsets[t] .. offsets[t] + sizes[t] - 1``), mixed at :func:`mixing_rates`.

    Args:
        sizes: examples per task (runtime data: the datasets' lengths).
        batch_size: per rank; ``num_batches`` global batches per epoch.
        mode, cap, temperature, weights: the mixing (module docstring).
        seed, num_replicas, rank: as every library sampler (same global batches on every rank).
    """

    citation = ("Raffel et al., Exploring the Limits of Transfer Learning with a Unified Text-to-Text "
                "Transformer, JMLR 2020 (examples-proportional / temperature mixing)")
    config_keys = ("batch_size", "num_batches", "mode", "cap", "temperature", "weights", "seed", "num_replicas", "rank")
    runtime_keys = ("sizes",)

    def __init__(self, sizes: Sequence[int], batch_size: int, num_batches: int = 100, mode: str = "proportional",
                 cap: int | None = None, temperature: float = 1.0, weights: Sequence[float] | None = None, *,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(batch_size, seed=seed, num_replicas=num_replicas, rank=rank)
        self.sizes = [int(n) for n in sizes]
        self.num_batches, self.mode, self.cap = int(num_batches), mode, cap
        self.temperature = float(temperature)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.rates = mixing_rates(self.sizes, mode, cap=cap, temperature=temperature, weights=weights)
        self.offsets = [sum(self.sizes[:t]) for t in range(len(self.sizes))]

    def task_of(self, index: int) -> int:
        """Task of a global example index."""
        for t in range(len(self.sizes) - 1, -1, -1):
            if index >= self.offsets[t]:
                return t
        raise IndexError(index)

    def global_batches(self) -> list[list[int]]:
        g = self.generator()
        total = self.num_batches * self.global_batch_size
        tasks = torch.multinomial(torch.tensor(self.rates, dtype=torch.float64), total, replacement=True,
                                  generator=g).tolist()
        perms = [torch.randperm(n, generator=g).tolist() for n in self.sizes]
        cursor = [0] * len(self.sizes)
        flat = []
        for t in tasks:
            flat.append(self.offsets[t] + perms[t][cursor[t] % self.sizes[t]])
            cursor[t] += 1
        gb = self.global_batch_size
        return [flat[i:i + gb] for i in range(0, total, gb)]

    def get_config_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "num_batches": self.num_batches, "mode": self.mode, "cap": self.cap,
                "temperature": self.temperature, "weights": self.weights, "seed": self.seed,
                "num_replicas": self.num_replicas, "rank": self.rank}
