"""Module-level worker functions for the methods-B 2-process gloo DDP tests (spawned by
``representation.testing.ddp.run_ddp``; they must be importable by name)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from representation.blocks.task_moe import TaskRoutedResidualMLP
from representation.distributed.gather import GatherSpec, gather_features, rank_offset_labels
from representation.losses.hydra import HydraLoss


def build_moe() -> nn.Module:
    torch.manual_seed(0)
    return TaskRoutedResidualMLP(8, 2, hidden=16)


def train_moe(model: nn.Module, x: torch.Tensor, task: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x, task), y).backward()
        opt.step()


def moe_ddp(rank: int, world: int, x: torch.Tensor, task: torch.Tensor, y: torch.Tensor, steps: int
            ) -> dict[str, torch.Tensor]:
    model = build_moe()
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    n = x.shape[0] // world
    sl = slice(rank * n, (rank + 1) * n)
    train_moe(ddp, x[sl], task[sl], y[sl], steps)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class HydraModel(nn.Module):
    """Encoder + Hydra loss in one module so DDP sees every trainable parameter."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(6, 8)
        self.loss = HydraLoss(4, 8, temperature=0.2)

    def full_batch_loss(self, x: torch.Tensor, y: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        return self.loss(self.enc(x), y, partner_labels=y2)

    def forward(self, x: torch.Tensor, y: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        z = self.enc(x)
        keys = gather_features(z, GatherSpec(local_loss=True, with_grad=True))
        parts = [torch.empty_like(y) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, y)
        return self.loss(z, y, keys=keys, key_labels=torch.cat(parts), partner_labels=y2,
                         self_index=rank_offset_labels(z.shape[0]))


def hydra_ddp(rank: int, world: int, x: torch.Tensor, y: torch.Tensor, y2: torch.Tensor, steps: int
              ) -> dict[str, torch.Tensor]:
    model = HydraModel()
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    n = x.shape[0] // world
    sl = slice(rank * n, (rank + 1) * n)
    for _ in range(steps):
        opt.zero_grad()
        ddp(x[sl], y[sl], y2[sl]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def both(rank: int, world: int, moe_args: tuple, hydra_args: tuple) -> dict[str, dict[str, torch.Tensor]]:
    """Both DDP checks in one spawn (spawning is the slow part on a shared machine)."""
    return {"moe": moe_ddp(rank, world, *moe_args), "hydra": hydra_ddp(rank, world, *hydra_args)}
