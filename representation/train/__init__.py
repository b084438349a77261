"""Training loop: torchrun-ready DDP, GradCache accumulation, autocast, warmup + cosine,
safetensors checkpoints with exact resume, JSONL metrics."""

from __future__ import annotations

from representation.train.config import TrainConfig
from representation.train.gradcache import grad_cache_backward, split_batch
from representation.train.schedule import warmup_cosine_factor, warmup_cosine_scheduler
from representation.train.tasks import PairLoss
from representation.train.trainer import EpochBatches, Trainer, seed_everything

__all__ = ["EpochBatches", "PairLoss", "TrainConfig", "Trainer", "grad_cache_backward", "seed_everything", "split_batch",
           "warmup_cosine_factor", "warmup_cosine_scheduler"]
