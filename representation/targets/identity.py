"""Identity (instance-discrimination) targets: the positive of query row i is key column i + offset."""

from __future__ import annotations

import torch


def identity_targets(n: int, m: int, offset: int = 0, *, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot targets [n, m] with ``t[i, i + offset] = 1``.

    ``offset`` is the rank offset under a local loss (``rank * n``, see
    :func:`representation.distributed.rank_offset_labels`); extra key columns (hard
    negatives) beyond ``offset + n`` get target 0.

    Raises:
        ValueError: if ``offset + n > m`` or ``offset < 0``.
    """
    if offset < 0 or offset + n > m:
        raise ValueError(f"identity targets need 0 <= offset and offset + n <= m, got n={n}, m={m}, "
                         f"offset={offset}")
    t = torch.zeros(n, m, device=device, dtype=dtype)
    idx = torch.arange(n, device=device)
    t[idx, idx + offset] = 1.0
    return t
