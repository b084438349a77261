"""MVLPT shared multitask prompt learner (Shen et al., WACV 2024) and per-task class masking.

Prompts:
* CoOp text context ``ctx`` [n_text, D_text] inserted after the start token of every class prompt;
* VPT (shallow) visual prompts ``vpt`` [n_visual, D_vis] inserted after the class token;
* the two are coupled through a *shared projector*: each is mapped to ``proj_dim`` (``pre``), the
  concatenation ``[ctx; vpt]`` goes through one shared module (identity / GELU / one transformer
  layer), is split again and mapped back (``post``).

Masking: in multitask training every image belongs to one task and only that task's classes are
valid. :func:`mask_task_logits` sets the other classes' logits to ``-inf`` so their softmax
probability is exactly 0. (The reference multiplies those logits by 0, which leaves them with
probability mass ∝ e^0; the tests check p = 0.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.registry import register

MVLPT_CITATION = (
    "Shen, Liu, Wang, Yuan, Wang, Li, Keutzer, Darrell, Rohrbach, Gao. Multitask Vision-Language "
    "Prompt Tuning. WACV 2024."
)


class _SharedTransformerLayer(nn.Module):
    def __init__(self, dim: int, heads: int = 1) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True,
                                                norm_first=True, activation="gelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.unsqueeze(0)).squeeze(0)


@register("shared_prompt_learner", kind="adapter")
class SharedPromptLearner(nn.Module):
    """Learnable text (CoOp) and visual (VPT) prompts coupled by a shared projector.

    Args:
        n_text_ctx: number of text context tokens (0: no text prompt).
        n_visual_ctx: number of visual prompt tokens (0: no visual prompt).
        text_dim / visual_dim: token widths of the text and vision transformers.
        proj_dim: width of the shared projector space.
        project: ``"transformer"`` (one layer, as MVLPT's default), ``"mlp"`` (GELU) or
            ``"identity"``. The projector is used only when both prompts exist.
        init_std: std of the normal init of the prompt tokens (CoOp/VPT: 0.02).

    ``forward() -> (text_ctx [n_text_ctx, text_dim], visual_ctx [n_visual_ctx, visual_dim])``.
    """

    citation = MVLPT_CITATION

    def __init__(self, n_text_ctx: int, n_visual_ctx: int, text_dim: int, visual_dim: int,
                 proj_dim: int | None = None, project: str = "transformer", init_std: float = 0.02) -> None:
        super().__init__()
        if n_text_ctx < 0 or n_visual_ctx < 0:
            raise ValueError("prompt lengths must be >= 0")
        if project not in ("transformer", "mlp", "identity"):
            raise ValueError(f"project must be transformer, mlp or identity, got {project!r}")
        self.n_text_ctx, self.n_visual_ctx = n_text_ctx, n_visual_ctx
        self.text_dim, self.visual_dim = text_dim, visual_dim
        self.proj_dim = proj_dim or text_dim
        self.project = project
        self.init_std = float(init_std)
        self.ctx = nn.Parameter(torch.randn(n_text_ctx, text_dim) * init_std)
        self.vpt = nn.Parameter(torch.randn(n_visual_ctx, visual_dim) * init_std)
        self.shared = n_text_ctx > 0 and n_visual_ctx > 0 and project != "identity"
        if self.shared:
            p = self.proj_dim
            self.text_pre = nn.Linear(text_dim, p) if text_dim != p else nn.Identity()
            self.text_post = nn.Linear(p, text_dim) if text_dim != p else nn.Identity()
            self.vis_pre = nn.Linear(visual_dim, p) if visual_dim != p else nn.Identity()
            self.vis_post = nn.Linear(p, visual_dim) if visual_dim != p else nn.Identity()
            self.projector: nn.Module = _SharedTransformerLayer(p) if project == "transformer" else nn.GELU()

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.shared:
            return self.ctx, self.vpt
        joint = torch.cat([self.text_pre(self.ctx), self.vis_pre(self.vpt)], dim=0)
        joint = self.projector(joint)
        return self.text_post(joint[: self.n_text_ctx]), self.vis_post(joint[self.n_text_ctx:])

    def get_config_dict(self) -> dict[str, Any]:
        return {"n_text_ctx": self.n_text_ctx, "n_visual_ctx": self.n_visual_ctx, "text_dim": self.text_dim,
                "visual_dim": self.visual_dim, "proj_dim": self.proj_dim, "project": self.project,
                "init_std": self.init_std}


def insert_after_first(tokens: torch.Tensor, prompts: torch.Tensor, keep_length: bool = False) -> torch.Tensor:
    """``[t_0, prompts, t_1, ...]``: tokens [B, L, D], prompts [n, D] or [B, n, D] -> [B, L + n, D]
    (or the first L tokens with ``keep_length``: CoOp drops trailing padding this way)."""
    if prompts.dim() == 2:
        prompts = prompts.unsqueeze(0).expand(tokens.shape[0], -1, -1)
    out = torch.cat([tokens[:, :1], prompts.to(tokens.dtype), tokens[:, 1:]], dim=1)
    return out[:, : tokens.shape[1]] if keep_length else out


def task_class_mask(class_task: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """Bool [B, C]: True where class c belongs to sample b's task. class_task [C], task [B] (long)."""
    return task.unsqueeze(1) == class_task.unsqueeze(0)


def mask_task_logits(logits: torch.Tensor, class_task: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """logits [B, C] with classes outside each sample's task set to ``-inf`` (softmax p = 0)."""
    valid = task_class_mask(class_task.to(logits.device), task.to(logits.device))
    if not bool(valid.any(dim=1).all()):
        bad = torch.nonzero(~valid.any(dim=1)).flatten().tolist()
        raise ValueError(f"samples {bad[:10]} have a task with no class")
    return logits.masked_fill(~valid, float("-inf"))
