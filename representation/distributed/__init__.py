"""All cross-process communication of the library lives here; methods never call
``torch.distributed`` themselves."""

from __future__ import annotations

from representation.distributed.gather import GatherSpec, gather_features, rank_offset_labels, world
from representation.distributed.reduce import all_reduce_sum

__all__ = ["GatherSpec", "all_reduce_sum", "gather_features", "rank_offset_labels", "world"]
