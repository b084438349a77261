"""Task-routed mixture of experts (SkillNet; MoE contrastive sentence embeddings).

Routing is *enforced*, not learned: a sample's task index (domain token, modality, geo source)
selects which expert(s) process it. ``routing`` [num_tasks, num_experts] bool says which experts
a task activates (SkillNet: several "skills" per task, outputs averaged); the default is the
identity (task t -> expert t, MoE-BERT style). Experts are typically initialised as copies of a
dense block (:meth:`TaskRoutedMoE.from_dense`), so at init the MoE equals the dense model.

An expert that receives no sample in a batch does not take part in the graph: its parameters get
no gradient (``grad`` stays None, i.e. zero). Under DDP use ``find_unused_parameters=True``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from representation.registry import register

SKILLNET_CITATION = (
    "Dai, Tang, Wu, et al. SkillNet-NLU: A Sparsely Activated Model for General-Purpose Natural "
    "Language Understanding. arXiv:2203.03312, 2022; and Hallee, Kapur, Patil, Gleghorn, Bichara. "
    "Contrastive Learning and Mixture of Experts Enables Precise Vector Embeddings. arXiv:2401.15713, 2024."
)


@register("task_routed_moe", kind="block")
class TaskRoutedMoE(nn.Module):
    """Run each sample through the expert(s) of its task.

    Args:
        experts: the expert modules; each maps [n, ...] -> [n, ...out] (same output shape).
        routing: optional bool [num_tasks, num_experts]; default identity (num_tasks = num_experts).

    Forward: ``x`` [N, ...], ``task`` [N] long in [0, num_tasks) -> [N, ...out]. Deterministic: the
    result of a sample depends only on the sample and its task.
    """

    citation = SKILLNET_CITATION

    def __init__(self, experts: Sequence[nn.Module], routing: torch.Tensor | list[list[bool]] | None = None) -> None:
        super().__init__()
        if not experts:
            raise ValueError("need at least one expert")
        self.experts = nn.ModuleList(experts)
        if routing is None:
            routing = torch.eye(len(experts), dtype=torch.bool)
        routing = torch.as_tensor(routing, dtype=torch.bool)
        if routing.dim() != 2 or routing.shape[1] != len(experts):
            raise ValueError(f"routing must be [num_tasks, {len(experts)}], got {tuple(routing.shape)}")
        if not bool(routing.any(dim=1).all()):
            raise ValueError("every task must activate at least one expert")
        self.register_buffer("routing", routing, persistent=False)

    @classmethod
    def from_dense(cls, block: nn.Module, num_experts: int, routing: torch.Tensor | None = None) -> TaskRoutedMoE:
        """``num_experts`` deep copies of ``block`` (each trains independently afterwards)."""
        return cls([copy.deepcopy(block) for _ in range(num_experts)], routing)

    @property
    def num_tasks(self) -> int:
        return int(self.routing.shape[0])

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        if task.dim() != 1 or task.shape[0] != x.shape[0]:
            raise ValueError(f"task must be [N] with N = {x.shape[0]}, got {tuple(task.shape)}")
        task = task.long().to(x.device)
        if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.num_tasks):
            raise ValueError(f"task ids must be in [0, {self.num_tasks}), got range "
                             f"[{int(task.min())}, {int(task.max())}]")
        active = self.routing[task]  # [N, E]
        weight = active.to(x.dtype) / active.sum(dim=1, keepdim=True).to(x.dtype)  # average of active experts
        out: torch.Tensor | None = None
        for e, expert in enumerate(self.experts):
            idx = torch.nonzero(active[:, e]).flatten()
            if idx.numel() == 0:
                continue
            y = expert(x.index_select(0, idx))
            w = weight.index_select(0, idx)[:, e].reshape(-1, *([1] * (y.dim() - 1)))
            if out is None:
                out = y.new_zeros((x.shape[0], *y.shape[1:]))
            out = out.index_add(0, idx, w.to(y.dtype) * y)
        if out is None:  # empty batch
            return self.experts[0](x)
        return out

    runtime_keys = ("experts",)

    def get_config_dict(self) -> dict[str, Any]:
        return {"routing": self.routing.bool().tolist()}


@register("task_routed_residual_mlp", kind="block")
class TaskRoutedResidualMLP(nn.Module):
    """Transformer-style residual MLP whose MLP is a :class:`TaskRoutedMoE`:
    ``x + MoE(LN(x), task)`` for x [N, D] or [N, L, D] (the MoE-BERT placement of experts)."""

    citation = SKILLNET_CITATION

    def __init__(self, dim: int, num_experts: int, hidden: int | None = None,
                 routing: torch.Tensor | list[list[bool]] | None = None) -> None:
        super().__init__()
        self.dim, self.num_experts, self.hidden = dim, num_experts, hidden
        hidden = hidden or 4 * dim
        self.norm = nn.LayerNorm(dim)
        dense = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.moe = TaskRoutedMoE.from_dense(dense, num_experts, routing)

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return x + self.moe(self.norm(x), task)

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "num_experts": self.num_experts, "hidden": self.hidden,
                "routing": self.moe.routing.bool().tolist()}
