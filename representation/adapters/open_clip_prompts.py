"""Prompt-tune a frozen open_clip ``CLIP`` model with a :class:`SharedPromptLearner` (MVLPT).

:class:`PromptedCLIP` re-implements ``encode_text`` / ``encode_image`` of open_clip's ``CLIP``
(ViT vision tower, ``text_pool_type='argmax'``) with the prompt tokens inserted:

* text: ``[SOS] ctx_1..ctx_n <class tokens> [EOS] pad...`` truncated to the context length, EOS
  index shifted by n (the pooled token);
* image: ``[CLS] vpt_1..vpt_m patch_1..`` after the positional embedding and ``ln_pre``; the
  prompt outputs are dropped before pooling (VPT-shallow).

The CLIP weights are frozen (``requires_grad=False``); only the learner's parameters train.
With zero-length prompts both encoders equal the frozen model's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from representation.adapters.prompt_learner import MVLPT_CITATION, SharedPromptLearner, insert_after_first
from representation.registry import register


@register("prompted_clip", kind="adapter")
class PromptedCLIP(nn.Module):
    """open_clip CLIP + shared text/visual prompts.

    Args:
        clip_model: an ``open_clip.model.CLIP`` with a ``VisionTransformer`` visual tower.
        learner: prompts; its ``text_dim`` must equal the text transformer width and its
            ``visual_dim`` the vision transformer width.
    """

    citation = MVLPT_CITATION

    def __init__(self, clip_model: nn.Module, learner: SharedPromptLearner) -> None:
        super().__init__()
        if getattr(clip_model, "text_pool_type", "argmax") != "argmax":
            raise ValueError("PromptedCLIP supports text_pool_type='argmax' only")
        if not hasattr(clip_model.visual, "_embeds"):
            raise ValueError("PromptedCLIP needs an open_clip VisionTransformer visual tower")
        if learner.text_dim != clip_model.token_embedding.embedding_dim:
            raise ValueError(f"learner.text_dim={learner.text_dim} != text width "
                             f"{clip_model.token_embedding.embedding_dim}")
        if learner.visual_dim != clip_model.visual.positional_embedding.shape[-1]:
            raise ValueError(f"learner.visual_dim={learner.visual_dim} != vision width "
                             f"{clip_model.visual.positional_embedding.shape[-1]}")
        self.clip = clip_model
        self.learner = learner
        for p in self.clip.parameters():
            p.requires_grad_(False)

    def encode_text(self, text: torch.Tensor, normalize: bool = False,
                    text_ctx: torch.Tensor | None = None) -> torch.Tensor:
        """text [C, L] token ids -> [C, E] (prompted)."""
        m = self.clip
        if text_ctx is None:
            text_ctx = self.learner()[0]
        n = text_ctx.shape[0]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(text).to(cast)
        x = insert_after_first(x, text_ctx, keep_length=True)
        x = x + m.positional_embedding.to(cast)
        x = m.transformer(x, attn_mask=m.attn_mask)
        x = m.ln_final(x)
        eos = text.argmax(dim=-1) + n
        if bool((eos >= text.shape[1]).any()):
            bad = torch.nonzero(eos >= text.shape[1]).flatten().tolist()
            raise ValueError(f"text rows {bad[:10]}: {n} context tokens push the end token past the context "
                             f"length {text.shape[1]}; use shorter class prompts or fewer context tokens")
        x = x[torch.arange(x.shape[0], device=x.device), eos]
        if m.text_projection is not None:
            x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) else x @ m.text_projection
        return F.normalize(x, dim=-1) if normalize else x

    def encode_image(self, image: torch.Tensor, normalize: bool = False,
                     visual_ctx: torch.Tensor | None = None) -> torch.Tensor:
        """image [B, 3, H, W] -> [B, E] (prompted)."""
        v = self.clip.visual
        if visual_ctx is None:
            visual_ctx = self.learner()[1]
        n = visual_ctx.shape[0]
        x = v._embeds(image)
        x = insert_after_first(x, visual_ctx)
        x = v.transformer(x)
        x = torch.cat([x[:, :1], x[:, 1 + n:]], dim=1)
        pooled, _ = v._pool(x)
        if v.proj is not None:
            pooled = pooled @ v.proj
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Scaled image-class logits [B, C] = exp(logit_scale) · cos(image, class text)."""
        text_ctx, visual_ctx = self.learner()
        img = self.encode_image(image, normalize=True, visual_ctx=visual_ctx)
        txt = self.encode_text(text, normalize=True, text_ctx=text_ctx)
        return self.clip.logit_scale.exp() * img @ txt.T
