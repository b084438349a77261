"""Cross-batch memory (XBM, Wang et al., CVPR 2020; pytorch-metric-learning's ``CrossBatchMemory``).

A FIFO queue of the last ``memory_size`` embeddings and labels of past batches; the wrapped
metric loss scores each batch against the (gathered) batch AND the memory, so the number of
negatives grows beyond the batch without extra forward passes. After the loss, the gathered
current batch (detached) is enqueued: every rank enqueues the same rows, so the memory is
identical on every rank and DDP training equals single-process training with the global batch.

Wrapped losses take ``memory`` / ``memory_labels`` keyword arguments: SupConLoss,
TripletMarginLoss, MultiSimilarityLoss, CircleLoss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed.gather import GatherSpec, gather
from representation.registry import register, resolve, to_config

_NO_GRAD = GatherSpec(local_loss=False, with_grad=False)


@register("xbm", kind="memory")
class CrossBatchMemory(nn.Module):
    """Args:
        loss: a metric loss accepting ``memory`` / ``memory_labels`` (module or config).
        embedding_size: D.
        memory_size: queue length Q.

    ``forward(embeddings [n, D], labels [n], *, enqueue=True, **kwargs)`` returns the wrapped
    loss's output. The queue is a (checkpointed) buffer: ``memory_embeddings`` [Q, D],
    ``memory_labels`` [Q], ``memory_ptr``, ``memory_filled``.
    """

    citation = "Wang et al., Cross-Batch Memory for Embedding Learning, CVPR 2020"

    def __init__(self, loss: nn.Module | dict[str, Any], embedding_size: int, memory_size: int = 1024) -> None:
        super().__init__()
        if memory_size < 1 or embedding_size < 1:
            raise ValueError("memory_size and embedding_size must be >= 1")
        self.loss = resolve(loss)
        self.embedding_size, self.memory_size = int(embedding_size), int(memory_size)
        self.register_buffer("memory_embeddings", torch.zeros(memory_size, embedding_size))
        self.register_buffer("memory_labels", torch.zeros(memory_size, dtype=torch.long))
        self.register_buffer("memory_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("memory_filled", torch.zeros((), dtype=torch.long))

    def memory(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled part of the queue: (embeddings [q, D], labels [q])."""
        q = int(self.memory_filled)
        return self.memory_embeddings[:q], self.memory_labels[:q]

    @torch.no_grad()
    def enqueue(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Write rows (already gathered) into the FIFO, oldest overwritten first."""
        n = embeddings.shape[0]
        if n == 0:
            return
        if n >= self.memory_size:
            embeddings, labels, n = embeddings[-self.memory_size:], labels[-self.memory_size:], self.memory_size
        idx = (int(self.memory_ptr) + torch.arange(n)) % self.memory_size
        self.memory_embeddings[idx.to(self.memory_embeddings.device)] = embeddings.detach().to(self.memory_embeddings)
        self.memory_labels[idx.to(self.memory_labels.device)] = labels.to(self.memory_labels)
        self.memory_ptr.fill_((int(self.memory_ptr) + n) % self.memory_size)
        self.memory_filled.fill_(min(int(self.memory_filled) + n, self.memory_size))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, *, enqueue: bool = True, **kwargs: Any) -> Any:
        if embeddings.shape[-1] != self.embedding_size:
            raise ValueError(f"embeddings must be [n, {self.embedding_size}], got {tuple(embeddings.shape)}")
        mem, mem_labels = self.memory()
        out = self.loss(embeddings, labels, memory=mem if mem.shape[0] else None,
                        memory_labels=mem_labels if mem.shape[0] else None, **kwargs)
        if enqueue and self.training:
            with torch.no_grad():
                self.enqueue(gather(embeddings.detach(), _NO_GRAD).tensor, gather(labels, _NO_GRAD).tensor)
        return out

    def get_config_dict(self) -> dict[str, Any]:
        return {"loss": to_config(self.loss), "embedding_size": self.embedding_size, "memory_size": self.memory_size}
