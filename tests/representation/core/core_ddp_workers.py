"""Module-level worker functions for the 2-process gloo DDP tests (importable by spawn)."""

from __future__ import annotations

import torch

from representation.distributed import all_reduce_sum, gather_features, world
from representation.losses.infonce import InfoNCELoss


def rank_info_and_gather(rank: int, world_size: int, x: torch.Tensor) -> dict[str, object]:
    r, w = world()
    total = all_reduce_sum(torch.tensor(float(rank + 1)))
    n = x.shape[0] // world_size
    return {"rank": r, "world": w, "total": float(total), "gathered": gather_features(x[rank * n:(rank + 1) * n])}


def infonce_grads(rank: int, world_size: int, cases: list[dict]) -> list[dict[str, torch.Tensor]]:
    """For each case {q, k, loss_kwargs, call_kwargs}: local-loss InfoNCE on this rank's shard.

    Returns per case the loss and the shard gradients divided by W (what DDP's gradient
    average contributes), so summing them over ranks gives the averaged gradient."""
    out = []
    for case in cases:
        q, k = case["q"], case["k"]
        n = q.shape[0] // world_size
        sl = slice(rank * n, (rank + 1) * n)
        ql = q[sl].clone().requires_grad_(True)
        kl = k[sl].clone().requires_grad_(True)
        call = dict(case.get("call_kwargs", {}))
        neg = call.pop("negatives", None)
        if neg is not None:
            h = neg.shape[0] // world_size
            call["negatives"] = neg[rank * h:(rank + 1) * h].clone().requires_grad_(True)
        loss = InfoNCELoss(**case["loss_kwargs"])(ql, kl, **call)
        loss.backward()
        res = {"loss": loss.detach(), "gq": ql.grad / world_size, "gk": kl.grad / world_size}
        if neg is not None:
            res["gneg"] = call["negatives"].grad / world_size
        out.append(res)
    return out
