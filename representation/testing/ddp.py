"""Run a function in W CPU processes joined by a gloo process group (for DDP tests).

Usage::

    def work(rank: int, world_size: int, x: torch.Tensor) -> torch.Tensor:  # module level
        ...  # torch.distributed is initialised here
        return result

    results = run_ddp(work, world_size=2, args=(x,))  # [result_rank0, result_rank1]

``fn`` must be importable by name (defined at module level in an importable module,
e.g. a test file under ``tests/``) because the workers are started with the ``spawn``
method. Its return value is sent back with ``torch.save`` through a temporary file, so
it may hold tensors, dicts, lists and numbers. An exception in any worker is re-raised
in the parent as ``RuntimeError`` carrying the worker's traceback.
"""

from __future__ import annotations

import os
import socket
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, out_dir: str, fn: Callable[..., Any],
            args: tuple[Any, ...], kwargs: dict[str, Any], threads: int) -> None:
    torch.set_num_threads(threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    out = Path(out_dir) / f"rank{rank}.pt"
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size)
        try:
            result = fn(rank, world_size, *args, **kwargs)
        finally:
            dist.destroy_process_group()
        torch.save({"ok": True, "result": result}, out)
    except BaseException:  # report every failure to the parent, then exit non-zero
        torch.save({"ok": False, "error": traceback.format_exc()}, out)
        raise


def run_ddp(fn: Callable[..., Any], world_size: int = 2, args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None, *, threads: int = 1, timeout_s: float = 120.0
            ) -> list[Any]:
    """Spawn ``world_size`` CPU processes, call ``fn(rank, world_size, *args, **kwargs)`` in
    each inside an initialised gloo process group, and return the results in rank order.

    Args:
        fn: module-level function (picklable by reference).
        world_size: number of processes.
        threads: ``torch.set_num_threads`` in each worker (keep small on shared machines).
        timeout_s: gloo collective timeout is not changed; this bounds the join of workers.
    """
    kwargs = kwargs or {}
    with tempfile.TemporaryDirectory(prefix="ddp_") as out_dir:
        port = free_port()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(r, world_size, port, out_dir, fn, args, kwargs, threads),
                             daemon=False) for r in range(world_size)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout_s)
        alive = [p for p in procs if p.is_alive()]
        for p in alive:
            p.terminate()
            p.join(5)
        results: list[Any] = []
        errors: list[str] = []
        for r in range(world_size):
            path = Path(out_dir) / f"rank{r}.pt"
            if not path.exists():
                errors.append(f"rank {r}: no result (exit code {procs[r].exitcode}"
                              f"{', timed out' if procs[r] in alive else ''})")
                continue
            rec = torch.load(path, weights_only=False)
            if rec["ok"]:
                results.append(rec["result"])
            else:
                errors.append(f"rank {r}:\n{rec['error']}")
        if errors:
            raise RuntimeError("DDP worker failure:\n" + "\n".join(errors))
        return results
