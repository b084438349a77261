"""TaskExpert (Ye and Xu, "TaskExpert: Dynamically Assembling Multi-Task Representations with
Memory", ICCV 2023): learned, per-sample mixtures of shared experts per task, with a multi-task
memory.

One layer, for tokens X [B, T, D] (backbone patches; for geolocation, the views of a location):

    E_k = Expert_k(X)                     k = 1..K task-generic features (Linear -> GELU -> LayerNorm)
    g_t = softmax(Gate_t(mean_T X ⊕ mean_T M_t))   per task t and sample, over K experts (+ memory)
    F_t = Σ_k g_tk E_k + g_t,mem M_t      the task's feature (M_t: the task's memory, an extra expert)
    M_t ← LayerNorm(M_t + F_t)            the memory, updated by each layer and passed to the next

The first layer has no memory (gates over the K experts only). Gates sum to 1 per task and
sample; with K = 1 and no memory every task receives the same expert output (a shared decoder).
TaskExpert's code is not released: the expert and memory-update forms are the library's reading
of the paper (the paper's experts are also linear projections of the backbone tokens).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

TASKEXPERT_CITATION = ("Ye and Xu, TaskExpert: Dynamically Assembling Multi-Task Representations with Memory, "
                       "ICCV 2023")


@register("task_expert", kind="block")
class TaskExpertBlock(nn.Module):
    """``forward(x [B, T, D] or [B, D], memory=None) -> (features [tasks, B, T, D], memory [tasks, B, T, D])``.

    Args:
        dim: D; num_experts: K; num_tasks: number of task outputs.
        memory: use the multi-task memory (an extra expert from the second layer on).

    ``gates(x, memory=None) -> [tasks, B, K (+1)]`` (rows sum to 1).
    """

    citation = TASKEXPERT_CITATION

    def __init__(self, dim: int, num_experts: int, num_tasks: int, memory: bool = True) -> None:
        super().__init__()
        if dim < 1 or num_experts < 1 or num_tasks < 1:
            raise ValueError("dim, num_experts and num_tasks must be >= 1")
        self.dim, self.num_experts, self.num_tasks, self.memory = int(dim), int(num_experts), int(num_tasks), bool(memory)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
                                     for _ in range(num_experts))
        self.gate = nn.ModuleList(nn.Linear(2 * dim if memory else dim, num_experts + int(memory))
                                  for _ in range(num_tasks))
        self.memory_norm = nn.LayerNorm(dim) if memory else None

    def gates(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        tokens = x if x.dim() == 3 else x.unsqueeze(1)
        pooled = tokens.mean(dim=1)
        out = []
        for t, gate in enumerate(self.gate):
            if not self.memory:
                out.append(torch.softmax(gate(pooled), dim=-1))
                continue
            mem_pooled = pooled.new_zeros(pooled.shape) if memory is None else memory[t].mean(dim=1)
            logits = gate(torch.cat([pooled, mem_pooled], dim=-1))
            if memory is None:  # first layer: no memory expert yet
                logits = logits.clone()
                logits[:, -1] = float("-inf")
            out.append(torch.softmax(logits, dim=-1))
        return torch.stack(out)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        squeeze = x.dim() == 2
        tokens = x.unsqueeze(1) if squeeze else x
        if tokens.dim() != 3 or tokens.shape[-1] != self.dim:
            raise ValueError(f"x must be [B, T, {self.dim}] or [B, {self.dim}], got {tuple(x.shape)}")
        if memory is not None and not self.memory:
            raise ValueError("this block was built with memory=False")
        if memory is not None and squeeze:
            memory = memory.unsqueeze(2)
        experts = torch.stack([e(tokens) for e in self.experts], dim=-1)  # [B, T, D, K]
        g = self.gates(tokens, memory)  # [tasks, B, K (+1)]
        feats = torch.einsum("btdk,sbk->sbtd", experts, g[..., :self.num_experts])
        if memory is not None:
            feats = feats + g[..., -1, None, None] * memory
        new_memory = None
        if self.memory:
            new_memory = self.memory_norm(feats if memory is None else memory + feats)
        if squeeze:
            feats = feats.squeeze(2)
            new_memory = None if new_memory is None else new_memory.squeeze(2)
        return feats, new_memory

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "num_experts": self.num_experts, "num_tasks": self.num_tasks, "memory": self.memory}
