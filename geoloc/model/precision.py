"""Inference precision: bf16 autocast around the vision tower on CUDA, float32 everywhere else.

The tower's matrix products are where inference spends its time; on a GPU they run on the tensor
cores in bf16 under autocast. Everything after the tower stays float32 / float64: the heads and the
softmax (``emb.float()`` first), and retrieval refinement (:class:`geoloc.refine.Refiner` turns
autocast off for its distance products, whose ``|q|^2 + |v|^2 - 2 q.v`` form loses the
nearest-member choice in bf16 or TF32). TF32 is never switched on globally here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA (and ``fp32`` on the CPU, where bf16 autocast is slower);
    ``fp32`` / ``bf16`` as given (``bf16`` on the CPU is for tests)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def inference_autocast(device: torch.device, precision: str = "auto") -> AbstractContextManager[Any]:
    """The autocast context for a tower forward on ``device`` at ``precision`` (see
    :func:`resolve_precision`); a no-op for fp32."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


__all__ = ["PRECISIONS", "inference_autocast", "resolve_precision"]
