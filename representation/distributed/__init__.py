"""All cross-process communication of the library lives here; methods never call
``torch.distributed`` themselves."""

from __future__ import annotations

from representation.distributed.blocks import global_rows, row_block
from representation.distributed.exchange import neighbour_exchange, ring_pass
from representation.distributed.gather import (
    Gathered,
    GatherSpec,
    Layout,
    gather,
    gather_features,
    gather_sizes,
    rank_offset_labels,
    world,
)
from representation.distributed.launch import (
    DistEnv,
    all_gather_objects,
    average_gradients,
    barrier,
    broadcast_object,
    broadcast_parameters,
    cuda_problem,
    gather_objects,
    init_from_env,
    local_cuda_ordinal,
    on_main,
    resolve_device,
    shutdown,
)
from representation.distributed.reduce import all_reduce_sum, masked_mean, rank_mean, ratio_mean, sample_mean

__all__ = ["DistEnv", "GatherSpec", "Gathered", "Layout", "all_gather_objects", "all_reduce_sum",
           "average_gradients", "barrier", "broadcast_object", "broadcast_parameters", "cuda_problem", "gather",
           "gather_features", "gather_objects", "gather_sizes", "global_rows", "init_from_env", "local_cuda_ordinal",
           "masked_mean", "neighbour_exchange", "on_main", "rank_mean", "rank_offset_labels", "ratio_mean",
           "resolve_device", "ring_pass", "row_block", "sample_mean", "shutdown", "world"]
