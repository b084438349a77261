"""All cross-process communication of the library lives here; methods never call
``torch.distributed`` themselves."""

from __future__ import annotations

from representation.distributed.exchange import neighbour_exchange, ring_pass
from representation.distributed.gather import GatherSpec, gather_features, rank_offset_labels, world
from representation.distributed.launch import (
    DistEnv,
    average_gradients,
    barrier,
    broadcast_object,
    broadcast_parameters,
    init_from_env,
)
from representation.distributed.reduce import all_reduce_sum

__all__ = ["DistEnv", "GatherSpec", "all_reduce_sum", "average_gradients", "barrier", "broadcast_object",
           "broadcast_parameters", "gather_features", "init_from_env", "neighbour_exchange", "rank_offset_labels",
           "ring_pass", "world"]
