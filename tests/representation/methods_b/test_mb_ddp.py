"""2-process gloo DDP = 1-process full batch, for the task-routed MoE (an expert unused on one
rank) and for the Hydra loss over keys gathered across ranks. Both run in one spawn.

Slow-marked: spawning two torch processes took ~70 s with ~7 jobs on the 2 shared cores."""

from __future__ import annotations

from typing import Any

import mb_ddp_workers as workers
import pytest
import torch

from representation.testing.ddp import run_ddp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ddp_run() -> dict[str, Any]:
    torch.manual_seed(1)
    x = torch.randn(16, 8)
    task = torch.tensor([0] * 8 + [0, 1, 1, 0, 1, 1, 0, 1])  # rank 0 sees only task 0
    moe_args = (x, task, torch.where(task[:, None] == 0, x, -x), 3)
    hx = torch.randn(16, 6)
    hy = torch.arange(4).repeat(4)
    hy2 = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(3))
    hydra_args = (hx, hy, hy2, 3)
    results = run_ddp(workers.both, world_size=2, args=(moe_args, hydra_args))
    return {"moe_args": moe_args, "hydra_args": hydra_args, "results": results}


def test_moe_ddp_with_expert_unused_on_one_rank_equals_full_batch(ddp_run: dict[str, Any]) -> None:
    x, task, y, steps = ddp_run["moe_args"]
    ref = workers.build_moe()
    workers.train_moe(ref, x, task, y, steps)
    for res in ddp_run["results"]:
        for k, v in ref.state_dict().items():
            torch.testing.assert_close(res["moe"][k], v, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ref.moe.experts[1][0].weight, workers.build_moe().moe.experts[1][0].weight)


def test_hydra_ddp_with_gathered_keys_equals_full_batch(ddp_run: dict[str, Any]) -> None:
    x, y, y2, steps = ddp_run["hydra_args"]
    ref = workers.HydraModel()
    opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        ref.full_batch_loss(x, y, y2).backward()
        opt.step()
    for res in ddp_run["results"]:
        for k, v in ref.state_dict().items():
            torch.testing.assert_close(res["hydra"][k], v, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ref.enc.weight, workers.HydraModel().enc.weight)
