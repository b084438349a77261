"""Trainer configuration (plain dataclass; every field is JSON-serialisable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Hyperparameters and bookkeeping for :class:`representation.train.Trainer`.

    Attributes:
        out_dir: where checkpoints (``checkpoint-<step>/``) and ``metrics.jsonl`` go.
        total_steps: optimizer steps of the whole run (sets the cosine schedule's length).
        batch_size: samples per rank per optimizer step (the contrastive batch on this rank).
        micro_batch_size: if smaller than ``batch_size``, GradCache accumulation: embed
            micro-batches without grad, compute the loss on the full cached batch, then
            backprop each micro-batch with its feature gradients (negatives stay the full batch).
        lr, weight_decay, betas: AdamW (used when no optimizer is given).
        warmup_steps: linear warmup from 0; then cosine decay to ``min_lr_ratio * lr``.
        grad_clip: max global gradient L2 norm (None: no clipping).
        precision: "fp32", "bf16" or "fp16" autocast (CUDA only; a no-op on CPU); fp16 uses a GradScaler.
        seed: seeds python/numpy/torch and the data order (DistributedSampler seed).
        checkpoint_every: save every this many steps (and always at the end / at a stop).
        keep_checkpoints: how many recent checkpoints to keep (older are deleted).
        log_every: write a JSONL metrics row every this many steps.
        resume: continue from the newest checkpoint in ``out_dir`` if there is one.
        device: "auto", "cpu" or "cuda".
        progress: show a tqdm bar on rank 0.
        tensorboard: also log to TensorBoard (if the ``tensorboard`` package is installed).
        num_workers: DataLoader worker processes (persistent across epochs; pinned host memory on CUDA).
        prefetch_factor: batches each worker prepares ahead.
    """

    out_dir: str
    total_steps: int
    batch_size: int
    micro_batch_size: int | None = None
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None
    precision: str = "fp32"
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    resume: bool = True
    device: str = "auto"
    progress: bool = True
    tensorboard: bool = False
    num_workers: int = 0
    prefetch_factor: int = 4
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.batch_size < 1:
            raise ValueError("total_steps and batch_size must be >= 1")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise ValueError(f"micro_batch_size must be in [1, batch_size={self.batch_size}]")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.warmup_steps < 0 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("warmup_steps >= 0, checkpoint_every >= 1 and log_every >= 1 required")
        self.betas = tuple(self.betas)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
