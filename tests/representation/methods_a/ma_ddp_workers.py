"""Module-level worker functions for the methods-A 2-process gloo DDP tests."""

from __future__ import annotations

import torch

from representation.losses.cl2l import CL2LLoss
from representation.losses.dreamlip import DreamLIPLoss
from representation.losses.supcon import SupConLoss


def supcon_grads(rank: int, world_size: int, z: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Local-loss SupCon on this rank's shard; returns the loss and grad / W."""
    n = z.shape[0] // world_size
    sl = slice(rank * n, (rank + 1) * n)
    zl = z[sl].clone().requires_grad_(True)
    loss = SupConLoss(temperature=0.2)(zl, labels[sl])
    loss.backward()
    return {"loss": loss.detach(), "grad": zl.grad / world_size}


def cl2l_grads(rank: int, world_size: int, img: torch.Tensor, txt: torch.Tensor, iv: torch.Tensor,
               tv: torch.Tensor) -> dict[str, torch.Tensor]:
    n = img.shape[0] // world_size
    sl = slice(rank * n, (rank + 1) * n)
    leaves = [x[..., sl, :].clone().requires_grad_(True) for x in (img, txt, iv, tv)]
    loss = CL2LLoss(temperature=0.1)(leaves[0], leaves[1], image_views=leaves[2], text_views=leaves[3])
    loss.backward()
    return {"loss": loss.detach(), "grads": [x.grad / world_size for x in leaves]}


def dreamlip_grads(rank: int, world_size: int, img: torch.Tensor, txt: torch.Tensor,
                   patches: torch.Tensor) -> dict[str, torch.Tensor]:
    n = img.shape[0] // world_size
    sl = slice(rank * n, (rank + 1) * n)
    leaves = [x[sl].clone().requires_grad_(True) for x in (img, txt, patches)]
    loss = DreamLIPLoss(temperature=0.1)(leaves[0], leaves[1], patches=leaves[2])
    loss.backward()
    return {"loss": loss.detach(), "grads": [x.grad / world_size for x in leaves]}


def all_cases(rank: int, world_size: int, supcon_args: tuple, cl2l_args: tuple,
              dreamlip_args: tuple) -> dict[str, dict]:
    """All DDP cases in one spawn (process start-up dominates the test time)."""
    return {"supcon": supcon_grads(rank, world_size, *supcon_args),
            "cl2l": cl2l_grads(rank, world_size, *cl2l_args),
            "dreamlip": dreamlip_grads(rank, world_size, *dreamlip_args)}
