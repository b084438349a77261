"""MultiCSR false-negative masking (Wang et al., NAACL 2024, ``simcse/models.py``).

In-batch negatives that are probably positives are removed from the softmax: pairs whose
frozen-encoder cosine similarity exceeds ``phi`` (0.95 in the paper), or, for locations,
pairs closer than ``max_km`` kilometres, or pairs in the same geocell. The positive
column of every row (the diagonal, offset by the rank under a local loss) is never
masked. The output is a dense keep-mask [N, M] (True = valid column) to pass as
``mask=`` to any loss of the soft-CE family, or to combine with other masks by ``&``.

``dedup_keys=True`` additionally removes, for every row, key columns that duplicate an
earlier key column (same similarity test among the keys), except the row's own positive.
With exact duplicates in the batch the masked loss of every row then equals its loss in
the deduplicated batch (the paper's mask alone only stops a row from treating its own
copies as negatives; other rows still see a duplicated item twice).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.geodesy import haversine_km_torch
from representation.registry import register

_MODES = ("cosine", "km", "cell")


def _positive_mask(n: int, m: int, positive_index: torch.Tensor | None, device) -> torch.Tensor:
    idx = torch.arange(n, device=device) if positive_index is None else positive_index.to(device).long()
    if idx.shape != (n,) or (n and (int(idx.min()) < 0 or int(idx.max()) >= m)):
        raise ValueError(f"positive_index must be [N] = [{n}] column indices in [0, {m})")
    pos = torch.zeros(n, m, dtype=torch.bool, device=device)
    pos[torch.arange(n, device=device), idx] = True
    return pos


def false_negative_mask(similar: torch.Tensor, positive_index: torch.Tensor | None = None,
                        key_duplicates: torch.Tensor | None = None) -> torch.Tensor:
    """Keep-mask [N, M] from a bool matrix ``similar`` (True = probable false negative):
    ``~similar``, with each row's positive column always kept. ``key_duplicates`` [M] bool
    (True = this key duplicates an earlier key) removes those columns from every row too
    (again except each row's positive)."""
    n, m = similar.shape
    drop = similar.to(torch.bool)
    if key_duplicates is not None:
        drop = drop | key_duplicates.to(torch.bool).unsqueeze(0)
    return ~drop | _positive_mask(n, m, positive_index, similar.device)


@register("false_negative_masker", kind="miner")
class FalseNegativeMasker:
    """Build MultiCSR keep-masks.

    Args:
        mode: "cosine" (``a``, ``b`` are frozen-encoder embeddings [N, E], [M, E]; mask
            cos > ``threshold``), "km" (``a``, ``b`` are [N, 2], [M, 2] (lat, lon) in
            degrees; mask distance < ``threshold`` km) or "cell" (``a``, ``b`` are [N], [M]
            integer geocell ids; mask equal ids, ``threshold`` unused).
        threshold: ``phi`` for cosine (paper: 0.95) or the radius in km.
        dedup_keys: also drop key columns similar to an earlier key column (see module
            docstring); meant for exact duplicates, so off by default.

    ``masker(a, b, positive_index=None) -> [N, M]`` bool keep-mask. ``positive_index``
    [N] gives each row's positive column (default ``arange(N)``; under a local loss pass
    :func:`representation.distributed.rank_offset_labels`). Runs without gradient.
    """

    citation = ("Wang et al., Large Language Models can Contrastively Refine their Generation for "
                "Better Sentence Representation Learning (MultiCSR), NAACL 2024")

    def __init__(self, mode: str = "cosine", threshold: float = 0.95, dedup_keys: bool = False) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if mode == "km" and not threshold > 0:
            raise ValueError(f"threshold must be > 0 km, got {threshold}")
        self.mode = mode
        self.threshold = float(threshold)
        self.dedup_keys = dedup_keys

    @torch.no_grad()
    def similar(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """[N, M] bool: True where the pair counts as a probable false negative."""
        if self.mode == "cosine":
            if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
                raise ValueError(f"cosine mode needs [N, E] and [M, E], got {tuple(a.shape)}, {tuple(b.shape)}")
            return (F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T) > self.threshold
        if self.mode == "km":
            if a.dim() != 2 or b.dim() != 2 or a.shape[1] != 2 or b.shape[1] != 2:
                raise ValueError(f"km mode needs (lat, lon) [N, 2] and [M, 2], got {tuple(a.shape)}, "
                                 f"{tuple(b.shape)}")
            a, b = a.double(), b.double()
            d = haversine_km_torch(a[:, :1], a[:, 1:], b[:, 0].unsqueeze(0), b[:, 1].unsqueeze(0))
            return d < self.threshold
        if a.dim() != 1 or b.dim() != 1:
            raise ValueError(f"cell mode needs [N] and [M] cell ids, got {tuple(a.shape)}, {tuple(b.shape)}")
        return a.unsqueeze(1) == b.unsqueeze(0)

    def __call__(self, a: torch.Tensor, b: torch.Tensor | None = None,
                 positive_index: torch.Tensor | None = None) -> torch.Tensor:
        b = a if b is None else b
        dup = None
        if self.dedup_keys:
            kk = self.similar(b, b)
            dup = torch.triu(kk, diagonal=1).any(dim=0)  # similar to some earlier key
        return false_negative_mask(self.similar(a, b), positive_index, dup)

    def get_config_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold, "dedup_keys": self.dedup_keys}
