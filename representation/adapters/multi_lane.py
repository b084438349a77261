"""MULTI-LANE (De Min et al., "Less is more: Summarizing patch tokens for efficient multi-label
class-incremental learning", CoLLAs 2024; code: tdemin16/multi-lane): per-task lanes of a few
summary tokens beside a frozen ViT.

In every layer of a frozen transformer, each task t has a class token and S selector tokens:

* the selectors soft-attend over the layer's DETACHED patch tokens, ``softmax_n(s · x_n / sqrt(D))``,
  and summarise them into S task-specific patch summaries;
* the task's class token and summaries go through the layer's (frozen) attention, with the task's
  prefix prompts prepended to the keys and values, then its MLP; the selectors are carried to the
  next layer unchanged;
* the frozen patch path runs under ``no_grad``, so the backbone receives no gradient, and the
  lanes of different tasks never interact (task t's output does not depend on task u's tokens or
  prompts). At test time the task is the one whose key is nearest (cosine) to the frozen feature
  (:class:`TaskIdentifier`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register

MULTILANE_CITATION = ("De Min, Mancini, Lathuilière, Roy and Ricci, Less is more: Summarizing patch tokens "
                      "for efficient multi-label class-incremental learning, CoLLAs 2024")


class _FrozenLayer(nn.Module):
    """Pre-norm transformer layer (LayerNorm -> MHSA -> LayerNorm -> MLP), the frozen backbone's."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def attend(self, x: torch.Tensor, prefix_k: torch.Tensor | None = None, prefix_v: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Self-attention of x [..., L, D], optional prefix keys / values [..., P, D]."""
        *lead, length, dim = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if prefix_k is not None:
            k, v = torch.cat([prefix_k, k], dim=-2), torch.cat([prefix_v, v], dim=-2)
        h, hd = self.heads, dim // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(*t.shape[:-1], h, hd).transpose(-2, -3)

        attn = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(hd), dim=-1)
        return self.proj((attn @ split(v)).transpose(-2, -3).reshape(*lead, length, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@register("multi_lane", kind="adapter")
class MultiLaneAdapter(nn.Module):
    """A frozen transformer with per-task lanes (module docstring).

    ``forward(patches [B, N, D], task [B] long) -> task class-token features [B, D]``;
    ``lanes(patches) -> [tasks, B, D]`` (every task's lane); ``frozen_features(patches) -> [B, D]``
    (mean patch token after the frozen layers, for task identification).

    Args:
        dim, depth, heads, mlp_ratio: the frozen transformer (its parameters get
            ``requires_grad=False``; ``load_backbone`` copies a trained one's state dict).
        num_tasks, num_selectors, num_prompts: lanes, selectors S per lane, prefix prompts P per
            layer and task.
    """

    citation = MULTILANE_CITATION

    def __init__(self, dim: int, depth: int, heads: int, num_tasks: int, num_selectors: int = 4,
                 num_prompts: int = 2, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.dim, self.depth, self.heads, self.mlp_ratio = int(dim), int(depth), int(heads), float(mlp_ratio)
        self.num_tasks, self.num_selectors, self.num_prompts = int(num_tasks), int(num_selectors), int(num_prompts)
        self.backbone = nn.ModuleList(_FrozenLayer(dim, heads, mlp_ratio) for _ in range(depth))
        self.backbone.requires_grad_(False)
        self.tokens = nn.Parameter(torch.randn(num_tasks, 1 + num_selectors, dim) * 0.02)
        self.prompts = nn.Parameter(torch.randn(depth, 2, num_tasks, num_prompts, dim) * 0.02) if num_prompts else None

    def load_backbone(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.backbone.load_state_dict(state_dict)
        self.backbone.requires_grad_(False)

    def lanes(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.dim() != 3 or patches.shape[-1] != self.dim:
            raise ValueError(f"patches must be [B, N, {self.dim}], got {tuple(patches.shape)}")
        b = patches.shape[0]
        x = patches.detach()
        tokens = self.tokens.unsqueeze(1).expand(-1, b, -1, -1)  # [T, B, 1 + S, D]
        for i, layer in enumerate(self.backbone):
            xn = layer.norm1(x).detach()
            cls, sel = tokens[:, :, :1], tokens[:, :, 1:]
            weights = torch.softmax(torch.einsum("tbsd,bnd->tbsn", layer.norm1(sel), xn) / math.sqrt(self.dim), dim=-1)
            summary = torch.einsum("tbsn,bnd->tbsd", weights, xn)
            lane = torch.cat([layer.norm1(cls), summary], dim=2)
            pk = pv = None
            if self.prompts is not None:
                pk = self.prompts[i, 0].unsqueeze(1).expand(-1, b, -1, -1)
                pv = self.prompts[i, 1].unsqueeze(1).expand(-1, b, -1, -1)
            cls = cls + layer.attend(lane, pk, pv)[:, :, :1]
            cls = cls + layer.mlp(layer.norm2(cls))
            tokens = torch.cat([cls, sel], dim=2)
            with torch.no_grad():
                x = layer(x)
        return tokens[:, :, 0]

    @torch.no_grad()
    def frozen_features(self, patches: torch.Tensor) -> torch.Tensor:
        x = patches.detach()
        for layer in self.backbone:
            x = layer(x)
        return x.mean(dim=1)

    def forward(self, patches: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        lanes = self.lanes(patches)
        return lanes[task.to(torch.long), torch.arange(patches.shape[0], device=patches.device)]

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "depth": self.depth, "heads": self.heads, "num_tasks": self.num_tasks,
                "num_selectors": self.num_selectors, "num_prompts": self.num_prompts, "mlp_ratio": self.mlp_ratio}


@register("task_identifier", kind="head")
class TaskIdentifier(nn.Module):
    """One key per task; ``forward(features [B, D]) -> (task [B], similarity [B])`` by the nearest key
    (cosine); ``key_loss(features, task)`` = mean(1 - cos(feature, key_task)) trains the keys
    (MULTI-LANE's ``TaskIdentifier``)."""

    citation = MULTILANE_CITATION

    def __init__(self, num_tasks: int, dim: int) -> None:
        super().__init__()
        self.num_tasks, self.dim = int(num_tasks), int(dim)
        self.keys = nn.Parameter(torch.empty(num_tasks, dim))
        nn.init.orthogonal_(self.keys)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sim = F.normalize(features, dim=-1) @ F.normalize(self.keys, dim=-1).T
        best, task = sim.max(dim=-1)
        return task, best

    def key_loss(self, features: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        keys = F.normalize(self.keys, dim=-1)[task.to(torch.long)]
        return (1.0 - (F.normalize(features.detach(), dim=-1) * keys).sum(-1)).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_tasks": self.num_tasks, "dim": self.dim}
