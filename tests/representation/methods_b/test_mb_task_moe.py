"""Task-routed MoE: dense equivalence at init, routed = chosen expert, unused experts no grad."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from representation.blocks.task_moe import TaskRoutedMoE, TaskRoutedResidualMLP


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 6))


def test_copied_experts_equal_dense_at_init() -> None:
    torch.manual_seed(0)
    dense = _mlp()
    moe = TaskRoutedMoE.from_dense(dense, 3)
    x = torch.randn(10, 6)
    task = torch.randint(0, 3, (10,))
    torch.testing.assert_close(moe(x, task), dense(x))
    assert moe.experts[0][0].weight is not dense[0].weight  # copies, not shared


def test_routed_forward_equals_chosen_expert() -> None:
    torch.manual_seed(0)
    moe = TaskRoutedMoE([_mlp() for _ in range(3)])
    x = torch.randn(9, 6)
    task = torch.tensor([0, 2, 1, 2, 2, 0, 1, 0, 2])
    out = moe(x, task)
    for i in range(9):
        torch.testing.assert_close(out[i], moe.experts[int(task[i])](x[i:i + 1])[0])


def test_unused_experts_get_no_grad_and_used_ones_do() -> None:
    torch.manual_seed(0)
    moe = TaskRoutedMoE([_mlp() for _ in range(3)])
    moe(torch.randn(5, 6), torch.tensor([0, 2, 0, 2, 2])).sum().backward()
    for e in (0, 2):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in moe.experts[e].parameters())
    assert all(p.grad is None for p in moe.experts[1].parameters())


def test_routing_is_deterministic_and_batch_independent() -> None:
    torch.manual_seed(0)
    moe = TaskRoutedMoE([_mlp() for _ in range(2)])
    x = torch.randn(6, 6)
    task = torch.tensor([1, 0, 1, 1, 0, 0])
    a = moe(x, task)
    torch.testing.assert_close(moe(x, task), a, rtol=0, atol=0)
    perm = torch.tensor([5, 3, 0, 1, 4, 2])
    torch.testing.assert_close(moe(x[perm], task[perm]), a[perm])
    torch.testing.assert_close(moe(x[:2], task[:2]), a[:2])


def test_skillnet_multi_expert_routing_averages_active_experts() -> None:
    torch.manual_seed(0)
    routing = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=torch.bool)
    moe = TaskRoutedMoE([_mlp() for _ in range(3)], routing)
    x = torch.randn(4, 6)
    task = torch.tensor([0, 1, 2, 0])
    out = moe(x, task)
    for i in range(4):
        active = [e for e in range(3) if routing[int(task[i]), e]]
        ref = sum(moe.experts[e](x[i:i + 1])[0] for e in active) / len(active)
        torch.testing.assert_close(out[i], ref)
    with pytest.raises(ValueError, match="task ids"):
        moe(x, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="at least one expert"):
        TaskRoutedMoE([_mlp()], torch.zeros(2, 1, dtype=torch.bool))


def test_residual_moe_on_token_sequences_and_loss_decreases() -> None:
    torch.manual_seed(0)
    blk = TaskRoutedResidualMLP(8, num_experts=2, hidden=16)
    x = torch.randn(12, 5, 8)
    task = torch.arange(12) % 2
    target = torch.where(task[:, None, None] == 0, x, -x)
    assert blk(x, task).shape == x.shape
    opt = torch.optim.Adam(blk.parameters(), lr=1e-2)
    first = nn.functional.mse_loss(blk(x, task), target).item()
    for _ in range(100):
        opt.zero_grad()
        nn.functional.mse_loss(blk(x, task), target).backward()
        opt.step()
    assert nn.functional.mse_loss(blk(x, task), target).item() < 0.5 * first


class _DenseWithTaskEmbedding(nn.Module):
    """Baseline: one shared residual MLP, the task given as an added embedding."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        h = x + self.emb(task)
        return h + self.mlp(self.norm(h))


@pytest.mark.slow
def test_toy_routed_experts_beat_dense_with_task_embedding() -> None:
    """Two domains with unrelated targets (two random MLPs of x): routed experts fit both better
    than one shared MLP of the same width that is told the task."""
    torch.manual_seed(0)
    d = 8
    fs = [nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, d)) for _ in range(2)]
    x = torch.randn(3000, d)
    task = torch.randint(0, 2, (3000,))
    with torch.no_grad():
        y = torch.where(task[:, None] == 0, fs[0](x), fs[1](x))
    mse = {}
    for name, model in (("dense", _DenseWithTaskEmbedding(d, 32)), ("routed", TaskRoutedResidualMLP(d, 2, hidden=32))):
        torch.manual_seed(0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(600):
            i = torch.randint(0, 2000, (128,))
            opt.zero_grad()
            nn.functional.mse_loss(model(x[i], task[i]), y[i]).backward()
            opt.step()
        with torch.no_grad():
            mse[name] = nn.functional.mse_loss(model(x[2000:], task[2000:]), y[2000:]).item()
    print(f"toy task-routed MoE held-out MSE: {mse}")
    assert mse["routed"] < 0.95 * mse["dense"]
