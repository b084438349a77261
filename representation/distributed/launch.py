"""Process-group setup for torchrun-style launches and gradient averaging for parameters
that live outside the DDP-wrapped module (e.g. a loss's learnable logit scale).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; :func:`init_from_env`
reads them, picks NCCL on CUDA and gloo on CPU, and is a no-op in a single process or when a
process group already exists (e.g. inside :func:`representation.testing.ddp.run_ddp`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from representation.distributed.gather import world

T = TypeVar("T")

DEFAULT_TIMEOUT_MIN = 60.0
"""Collective timeout (minutes) of the process group; ``DIST_TIMEOUT_MIN`` overrides it. Long: ranks
wait in a collective while rank 0 alone does shared work (data generation, geocells, big checkpoint
writes on network storage), longer than NCCL's 10-minute default."""


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


def cuda_problem() -> str | None:
    """Why CUDA cannot be used here (None when it can): no CUDA in this torch build, an NVIDIA
    driver that torch cannot use (too old for the build's CUDA), or no NVIDIA GPU at all."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"this torch build ({torch.__version__}) has no CUDA support"
    driver = Path("/proc/driver/nvidia/version")
    if driver.is_file() or any(Path("/dev").glob("nvidia[0-9]*")):
        version = ""
        if driver.is_file():
            head = driver.read_text(errors="replace").splitlines()[:1]
            version = f" ({head[0].strip()})" if head else ""
        return (f"an NVIDIA driver is present{version} but torch {torch.__version__} (built for CUDA "
                f"{torch.version.cuda}) cannot use it: the driver is probably older than that CUDA needs "
                f"(CUDA 13 needs R580+; see docs/gpu.md), or no GPU is visible (CUDA_VISIBLE_DEVICES="
                f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!s})")
    return "no NVIDIA GPU found"


def gpu_expected() -> bool:
    """True when this machine looks like it has an NVIDIA GPU (driver files, device nodes or a
    non-empty ``CUDA_VISIBLE_DEVICES``): then falling back to the CPU deserves a loud warning."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (Path("/proc/driver/nvidia/version").is_file() or any(Path("/dev").glob("nvidia[0-9]*"))
            or bool(visible and visible.strip() not in ("", "-1")))


def local_cuda_ordinal(local_rank: int, local_world_size: int | None, visible: int) -> int:
    """CUDA device index of the process with ``local_rank`` among ``local_world_size`` processes on
    its node, when it sees ``visible`` GPUs: its own index when every process sees every GPU, 0 when
    each process sees only its own GPU (SLURM ``--gpus-per-task=1``, one ``CUDA_VISIBLE_DEVICES``
    per task). One process per GPU: more processes than GPUs is an error (NCCL refuses two ranks on
    one GPU)."""
    from representation.errors import DeviceError

    if visible < 1:
        raise DeviceError("no CUDA device is visible to this process")
    if (local_world_size is None or local_world_size <= visible) and local_rank < visible:
        return local_rank
    if visible == 1:
        return 0
    raise DeviceError(f"{local_world_size or local_rank + 1} processes on this node share {visible} visible GPUs: "
                      f"run one process per GPU (torchrun --nproc-per-node {visible})")


def resolve_device(device: str | torch.device | None = "auto", *, local_rank: int | None = None,
                   what: str = "") -> torch.device:
    """The torch device for ``device``: ``"auto"``/None (CUDA when usable, else the CPU), ``"cpu"``,
    ``"cuda"`` (this process's GPU: :func:`local_cuda_ordinal` of ``LOCAL_RANK``) or ``"cuda:N"``.

    ``"auto"`` falling back to the CPU on a machine that has an NVIDIA GPU (:func:`gpu_expected`)
    warns loudly with the reason (an old driver must never mean a silent CPU run); ``"cuda"`` without
    usable CUDA raises :class:`~representation.errors.DeviceError` with the reason (one line)."""
    import warnings

    from representation.errors import DeviceError

    spec = "auto" if device is None else str(device)
    if spec == "auto":
        problem = cuda_problem()
        if problem is None:
            spec = "cuda"
        else:
            if gpu_expected():
                msg = f"{what or 'device=auto'}: CUDA is not usable ({problem}); running on the CPU"
                print(f"WARNING: {msg}", file=sys.stderr)
                warnings.warn(msg, stacklevel=2)
            return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not spec.startswith("cuda"):
        raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    problem = cuda_problem()
    if problem is not None:
        raise DeviceError(f"{what + ': ' if what else ''}device {spec!r} asked for, but CUDA is not usable: {problem}")
    if spec != "cuda":
        return torch.device(spec)
    lr = int(os.environ.get("LOCAL_RANK", "0")) if local_rank is None else local_rank
    lws = os.environ.get("LOCAL_WORLD_SIZE")
    return torch.device("cuda", local_cuda_ordinal(lr, int(lws) if lws else None, torch.cuda.device_count()))


def init_from_env(device: str = "auto", backend: str | None = None) -> DistEnv:
    """Initialise torch.distributed from torchrun's environment variables if needed.

    Args:
        device: "auto" (this rank's GPU if CUDA is usable, else the CPU, loudly where a GPU was
            expected), "cpu", "cuda" (fails with one line when CUDA is not usable); see
            :func:`resolve_device` (the GPU is ``LOCAL_RANK`` or, where each process sees one GPU, 0).
        backend: process-group backend; default NCCL for CUDA, gloo for CPU.

    The collective timeout is :data:`DEFAULT_TIMEOUT_MIN` minutes (env ``DIST_TIMEOUT_MIN``).
    """
    from datetime import timedelta

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device, local_rank=local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if env_world > 1 and dist.is_available() and not dist.is_initialized():
        timeout = timedelta(minutes=float(os.environ.get("DIST_TIMEOUT_MIN", DEFAULT_TIMEOUT_MIN)))
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend or ("nccl" if dev.type == "cuda" else "gloo"), init_method="env://",
                                timeout=timeout, **kwargs)
    rank, size = world()
    return DistEnv(rank=rank, world_size=size, local_rank=local_rank, device=dev)


def shutdown() -> None:
    """Destroy the process group if this process created one (end of a torchrun entry point;
    avoids NCCL's shutdown warning). Safe to call anywhere."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on rank 0 only; every rank returns its result (broadcast), or raises
    the exception rank 0 raised (so a bad input fails on every rank with the same one-line error
    instead of leaving the others waiting). Just the call in one process."""
    rank, size = world()
    if size == 1:
        return fn(*args, **kwargs)
    box: tuple[bool, Any] = (True, None)
    if rank == 0:
        try:
            box = (True, fn(*args, **kwargs))
        except Exception as exc:  # re-raised on every rank below
            box = (False, exc)
    box = broadcast_object(box)  # type: ignore[assignment]
    if not box[0]:
        raise box[1]
    return box[1]


def barrier() -> None:
    """Wait for all ranks (no-op in one process)."""
    if world()[1] > 1:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def all_gather_objects(obj: object) -> list[object]:
    """Every rank's picklable ``obj``, in rank order, on every rank (``[obj]`` in one process)."""
    _, size = world()
    if size == 1:
        return [obj]
    out: list[object] = [None] * size
    dist.all_gather_object(out, obj)
    return out


def gather_objects(obj: object, dst: int = 0) -> list[object] | None:
    """Every rank's picklable ``obj`` in rank order on rank ``dst`` only (None elsewhere): a
    result sharded over ranks travels once, to the rank that uses it."""
    rank, size = world()
    if size == 1:
        return [obj]
    out: list[object] | None = [None] * size if rank == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out
