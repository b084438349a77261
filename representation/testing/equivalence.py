"""DDP-equivalence harness: a loss evaluated on W gloo ranks, each holding a (possibly uneven)
shard of the batch, must give the full-batch value on every rank and, after DDP's gradient
average, the full-batch gradient of every input and of every loss parameter.

A case is plain data (picklable, so it crosses ``spawn``):

    DDPCase("supcon", loss={"type": "supcon", "temperature": 0.2},
            inputs={"z": z, "y": labels}, sharded=("z", "y"), args=("z", "y"))

* ``loss``: a registry config (the loss is built with :func:`representation.registry.build` after
  ``torch.manual_seed(case.seed)`` on every rank and in the parent, so parameters agree);
* ``inputs``: full-batch objects; names in ``sharded`` are split along ``shard_dims[name]``
  (default 0) by the rank sizes, the others (global target matrices, plans) are passed whole;
* ``args`` / ``kwargs``: which inputs go to the loss positionally / by keyword; ``static``:
  further keyword arguments; ``runtime``: runtime arguments of the registry build (modules, data);
* ``even=True``: equal shards (for code paths that need them, e.g. SigLIP's ring).

:func:`run_cases` runs every case on each rank inside :func:`representation.testing.ddp.run_ddp`
(one spawn for all cases); :func:`full_batch` runs a case in this process; :func:`assert_equivalent`
compares. Sizes per rank come from :func:`uneven_sizes` (different on every rank, so anchor
counts differ too). See docs/representation.md, "DDP test harness".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from representation.losses.base import sum_losses


@dataclass
class DDPCase:
    name: str
    loss: dict[str, Any]
    inputs: dict[str, Any]
    sharded: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    kwargs: dict[str, str] = field(default_factory=dict)
    static: dict[str, Any] = field(default_factory=dict)
    shard_dims: dict[str, int] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    double: bool = True
    even: bool = False


def uneven_sizes(n: int, world_size: int) -> list[int]:
    """Per-rank batch sizes summing to ``n``, all different when possible (rank r gets more rows
    than rank r + 1), none empty."""
    if world_size == 1:
        return [n]
    base = list(range(world_size, 0, -1))
    scale = max(n // sum(base), 1)
    sizes = [b * scale for b in base]
    sizes[0] += n - sum(sizes)
    if min(sizes) < 1:
        raise ValueError(f"cannot split {n} rows over {world_size} ranks")
    return sizes


def _shard(x: Any, sizes: Sequence[int], rank: int, dim: int) -> Any:
    start = sum(sizes[:rank])
    return x.narrow(dim, start, sizes[rank])


def _evaluate(case: DDPCase, rank: int, world_size: int, sizes: Sequence[int] | None) -> dict[str, Any]:
    from representation import registry

    torch.manual_seed(case.seed)
    loss = registry.build(case.loss, **case.runtime)
    if case.double and isinstance(loss, torch.nn.Module):
        loss = loss.double()
    local: dict[str, Any] = {}
    leaves: dict[str, torch.Tensor] = {}
    for name, value in case.inputs.items():
        if name in case.sharded and world_size > 1:
            value = _shard(value, sizes, rank, case.shard_dims.get(name, 0))
        if torch.is_tensor(value) and value.is_floating_point():
            value = value.detach().clone().to(torch.float64 if case.double else value.dtype)
            if name in case.sharded:
                value.requires_grad_(True)
                leaves[name] = value
        local[name] = value
    out = loss(*(local[a] for a in case.args), **{k: local[v] for k, v in case.kwargs.items()}, **case.static)
    value = sum_losses(out) if isinstance(out, dict) else out
    value.backward()
    params = dict(loss.named_parameters()) if isinstance(loss, torch.nn.Module) else {}
    return {"loss": value.detach(),
            "grads": {k: v.grad.detach() / world_size for k, v in leaves.items() if v.grad is not None},
            "param_grads": {k: p.grad.detach() / world_size for k, p in params.items() if p.grad is not None}}


def full_batch(case: DDPCase) -> dict[str, Any]:
    """The case in this process on the whole batch (the reference)."""
    return _evaluate(case, 0, 1, None)


def _rank_worker(rank: int, world_size: int, cases: Sequence[DDPCase], sizes: dict[str, list[int]]) -> dict:
    """Every case on this rank; a case that raises records ``{"error": message}`` (the same error is
    raised on every rank before any mismatched collective, so the others still run)."""
    out: dict[str, Any] = {}
    for case in cases:
        try:
            out[case.name] = _evaluate(case, rank, world_size, sizes[case.name])
        except Exception as exc:  # reported by assert_equivalent
            out[case.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def case_sizes(case: DDPCase, world_size: int) -> list[int]:
    """Uneven per-rank sizes of the case's sharded inputs (they share one batch dimension)."""
    name = case.sharded[0]
    n = case.inputs[name].shape[case.shard_dims.get(name, 0)]
    if case.even:
        if n % world_size:
            raise ValueError(f"{case.name}: {n} rows do not split evenly over {world_size} ranks")
        return [n // world_size] * world_size
    return uneven_sizes(n, world_size)


def run_cases(cases: Sequence[DDPCase], world_size: int, *, timeout_s: float = 300.0) -> tuple[list[dict], dict]:
    """Run every case on ``world_size`` gloo ranks (one spawn). Returns (per-rank results, sizes)."""
    from representation.testing.ddp import run_ddp

    sizes = {c.name: case_sizes(c, world_size) for c in cases}
    return run_ddp(_rank_worker, world_size=world_size, args=(list(cases), sizes), timeout_s=timeout_s), sizes


def assert_equivalent(case: DDPCase, full: dict[str, Any], per_rank: Sequence[dict[str, Any]],
                      *, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """Every rank's value equals the full-batch value; the concatenated (rank order) shard
    gradients / W equal the full-batch input gradients; the loss-parameter gradients averaged
    over ranks equal the full-batch ones."""
    errors = [res["error"] for res in per_rank if "error" in res]
    if errors:
        raise AssertionError(f"{case.name}: {errors[0]}")
    for r, res in enumerate(per_rank):
        torch.testing.assert_close(res["loss"], full["loss"], rtol=rtol, atol=atol,
                                   msg=lambda m, r=r: f"{case.name}: rank {r} value: {m}")
    for name, g_full in full["grads"].items():
        dim = case.shard_dims.get(name, 0)
        parts = [res["grads"].get(name) for res in per_rank]
        if any(p is None for p in parts):
            raise AssertionError(f"{case.name}: input {name!r} got no gradient on some rank")
        torch.testing.assert_close(torch.cat(parts, dim=dim), g_full, rtol=rtol, atol=atol,
                                   msg=lambda m, n=name: f"{case.name}: grad of {n}: {m}")
    for name, g_full in full["param_grads"].items():
        got = sum(res["param_grads"].get(name, torch.zeros_like(g_full)) for res in per_rank)
        torch.testing.assert_close(got, g_full, rtol=rtol, atol=atol,
                                   msg=lambda m, n=name: f"{case.name}: grad of parameter {n}: {m}")
