"""CCP, contrastive context prediction (Wu et al., IJCAI 2022), on the shared engine.

A sentence and a sentence from its local context window (same document, same language) are a
positive pair. The negatives of a query in language g are the in-batch keys of language g and
the entries of language g's memory queue (:class:`representation.memory.GroupedMemoryBank`):

    L_i = -log  exp(s(q_i, k_i)/τ) / ( Σ_{j: g_j = g_i} exp(s(q_i, k_j)/τ) + Σ_{m ∈ Q_{g_i}} exp(s(q_i, m)/τ) )

so that language identity never separates a positive from its negatives (a mixed queue would let
the model solve the task by language, leaving the languages apart). The paper's other two parts are
:class:`representation.blocks.AsymmetricBatchNorm` (BatchNorm on the query branch only) and post-hoc
whitening (:class:`representation.blocks.EmbeddingWhitening`, per language).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from representation.blocks.whitening import CCP_CITATION
from representation.distributed.gather import GatherSpec, gather
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.engine import contrastive_loss
from representation.memory.grouped_queue import GroupedMemoryBank
from representation.registry import register

_LABEL_SPEC = GatherSpec(local_loss=False, with_grad=False)


@register("ccp", kind="loss")
class CCPLoss(LossBase):
    """``forward(q [n, D], k [n, D], groups [n] long, *, enqueue=True, logit_scale=None, return_dict=False)``.

    Args:
        num_groups, queue_size, dim: the per-group memory (``queue_size=0``: no memory).
        same_group_negatives: in-batch negatives of the query's group only (CCP); False keeps
            every in-batch key (the memory stays per group).
        temperature / learn_scale: the scale; cosine similarity.
        gather: keys across ranks.

    After the loss (in training mode) the gathered keys are pushed into their groups' queues.
    """

    name = "ccp"
    citation = CCP_CITATION
    config_keys = (*SCALE_KEYS, "num_groups", "queue_size", "dim", "same_group_negatives", "gather")

    def __init__(self, num_groups: int, dim: int, queue_size: int = 256, temperature: float | None = None,
                 learn_scale: bool = False, *, same_group_negatives: bool = True,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        self.num_groups, self.dim, self.queue_size = int(num_groups), int(dim), int(queue_size)
        self.same_group_negatives = bool(same_group_negatives)
        self.gather = GatherSpec.coerce(gather)
        self.memory = GroupedMemoryBank(num_groups, queue_size, dim) if queue_size > 0 else None

    def forward(self, q: torch.Tensor, k: torch.Tensor, groups: torch.Tensor, *, enqueue: bool = True,
                logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        groups = groups.to(torch.long).reshape(-1)
        if groups.numel() != q.shape[0] or k.shape[0] != q.shape[0]:
            raise ValueError(f"q, k and groups need the same rows, got {q.shape[0]}, {k.shape[0]}, {groups.numel()}")
        qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        all_groups = gather(groups, _LABEL_SPEC).tensor
        memory = mem_group = mem_valid = None
        if self.memory is not None:
            memory, mem_group, mem_valid = self.memory.entries()
            memory = F.normalize(memory, dim=-1)
        n_all = all_groups.numel()

        def mask(rows: torch.Tensor) -> torch.Tensor:
            g = all_groups[rows].unsqueeze(1)
            cols = (all_groups.unsqueeze(0) == g) if self.same_group_negatives else \
                torch.ones(rows.numel(), n_all, dtype=torch.bool, device=q.device)
            cols[torch.arange(rows.numel(), device=q.device), rows] = True  # the positive
            if memory is None:
                return cols
            mem = (mem_group.unsqueeze(0) == g) & mem_valid.unsqueeze(0)
            return torch.cat([cols, mem], dim=1)

        def targets(rows: torch.Tensor) -> torch.Tensor:
            t = torch.zeros(rows.numel(), n_all + (0 if memory is None else memory.shape[0]), dtype=q.dtype,
                            device=q.device)
            t[torch.arange(rows.numel(), device=q.device), rows] = 1.0
            return t

        loss, logs = contrastive_loss(qn, kn, scale=self.resolve_scale(logit_scale), targets=targets, mask=mask,
                                      memory=memory, spec=self.gather)
        if enqueue and self.training and self.memory is not None:
            self.memory.push(k.detach(), groups)
        return self.output(loss, return_dict, **logs)
