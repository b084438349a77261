"""Process-group setup for torchrun-style launches and gradient averaging for parameters
that live outside the DDP-wrapped module (e.g. a loss's learnable logit scale).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; :func:`init_from_env`
reads them, picks NCCL on CUDA and gloo on CPU, and is a no-op in a single process or when a
process group already exists (e.g. inside :func:`representation.testing.ddp.run_ddp`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from representation.distributed.gather import world


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: global rank, world size, rank on its node, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str = "auto", backend: str | None = None) -> DistEnv:
    """Initialise torch.distributed from torchrun's environment variables if needed.

    Args:
        device: "auto" (cuda:LOCAL_RANK if CUDA is available, else cpu), "cpu", "cuda".
        backend: process-group backend; default NCCL for CUDA, gloo for CPU.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if env_world > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"), init_method="env://")
    rank, size = world()
    return DistEnv(rank=rank, world_size=size, local_rank=local_rank, device=dev)


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """All-reduce-average ``.grad`` of ``params`` over ranks (what DDP does for its module).

    Identity in one process. Parameters without a gradient are skipped on every rank alike
    (all ranks must agree on which have one)."""
    _, size = world()
    if size == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(size)


def broadcast_parameters(params: Iterable[torch.nn.Parameter], src: int = 0) -> None:
    """Copy the values of ``params`` from rank ``src`` to all ranks in place (DDP does this for
    its module at construction; use it for parameters outside the DDP module)."""
    if world()[1] == 1:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=src)


def broadcast_object(obj: object, src: int = 0) -> object:
    """Send a picklable object from rank ``src`` to all ranks (identity in one process)."""
    _, size = world()
    if size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for all ranks (no-op in one process)."""
    if world()[1] > 1:
        dist.barrier()
