"""Learning-rate schedule: linear warmup then cosine decay (multiplicative factor on the base lr)."""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Factor for optimizer step ``step`` (0-based: the factor used BY step ``step``).

    * ``step < warmup``: ``(step + 1) / warmup`` (linear, reaching 1 at the last warmup step);
    * afterwards: ``min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2`` with
      ``p = (step - warmup) / max(1, total - warmup)`` clamped to [0, 1].
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    p = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                            min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over :func:`warmup_cosine_factor`; call ``scheduler.step()`` after each optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine_factor(s, warmup_steps, total_steps, min_ratio))
