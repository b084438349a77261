"""GeoModel: vision tower -> per-view embeddings -> fusion -> geocell (+ auxiliary) logits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from geoloc.model.fusion import build_fusion
from geoloc.model.heads import GEOCELL, ClassificationHeads
from geoloc.model.tower import VisionTower, build_vision_tower

FREEZE_POLICIES = ("none", "all_but_last", "all")


@dataclass
class GeoModelConfig:
    """Everything needed to rebuild a :class:`GeoModel` (serialisable with :meth:`to_dict`).

    Attributes:
        num_cells: number of geocells C (geocell head size).
        tower: open_clip architecture name (``geoloc-tiny-vit`` trains on a CPU).
        pretrained: open_clip pretrained tag (user-supplied weights only).
        image_size: input side in pixels; None = the architecture's.
        custom_cfg: open_clip ``{"embed_dim", "vision_cfg", "text_cfg"}`` for a new architecture.
        embedding: ``tokens_mean`` (PIGEON: mean over ViT output tokens), ``tokens_mean_pre_ln``
            or ``pooled`` (see :mod:`geoloc.model.tower`).
        fusion: ``mean`` (PIGEON), ``attention`` or ``cross_frame`` (see :mod:`geoloc.model.fusion`).
        fusion_heads: attention heads of the fusion block.
        aux_heads: ``{task: classes}`` auxiliary classification heads (country, admin1, climate, month).
        loss_weights: ``{task: weight}``; tasks not listed weigh 1.0.
        dropout: dropout before the heads.
        head_hidden: width of a shared block between the embedding and the heads (0 = linear heads;
            see :class:`geoloc.model.heads.ClassificationHeads`).
    """

    num_cells: int
    tower: str = "geoloc-tiny-vit"
    pretrained: str | None = None
    image_size: int | None = None
    custom_cfg: dict[str, Any] | None = None
    embedding: str = "tokens_mean"
    fusion: str = "mean"
    fusion_heads: int = 4
    aux_heads: dict[str, int] = field(default_factory=dict)
    loss_weights: dict[str, float] = field(default_factory=dict)
    dropout: float = 0.0
    head_hidden: int = 0

    def head_sizes(self) -> dict[str, int]:
        return {GEOCELL: int(self.num_cells), **{k: int(v) for k, v in self.aux_heads.items()}}

    def loss_weight(self, task: str) -> float:
        return float(self.loss_weights.get(task, 1.0))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeoModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown GeoModelConfig keys {unknown}")
        return cls(**d)


class GeoModel(nn.Module):
    """PIGEON-style geolocator network.

    ``forward(images)`` with images [B, V, 3, H, W] (V views of one location) or [B, 3, H, W]
    (one view) returns ``{"embedding": [B, D], "geocell": [B, C], <aux task>: [B, n], ...}``
    (logits, not probabilities). ``valid`` [B, V] bool marks present views (missing views of a
    padded batch are ignored by the fusion).
    """

    def __init__(self, config: GeoModelConfig, tower: VisionTower | None = None,
                 checkpoint: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.tower = tower if tower is not None else build_vision_tower(
            config.tower, pretrained=config.pretrained, checkpoint=checkpoint,
            image_size=config.image_size, custom_cfg=config.custom_cfg, embedding=config.embedding)
        self.embed_dim = self.tower.embed_dim
        self.fusion = build_fusion(config.fusion, self.embed_dim, heads=config.fusion_heads)
        self.heads = ClassificationHeads(self.embed_dim, config.head_sizes(), dropout=config.dropout,
                                         hidden=config.head_hidden)

    @staticmethod
    def _as_views(images: torch.Tensor) -> torch.Tensor:
        if images.dim() == 4:
            return images.unsqueeze(1)
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be [B, V, 3, H, W] or [B, 3, H, W], got {tuple(images.shape)}")
        return images

    def embed_views(self, images: torch.Tensor) -> torch.Tensor:
        """Per-view embeddings [B, V, D]."""
        x = self._as_views(images)
        b, v = x.shape[:2]
        return self.tower(x.flatten(0, 1)).view(b, v, -1)

    def embed(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Fused location embedding [B, D] (the vector used for retrieval refinement)."""
        x = self._as_views(images)
        if self.config.fusion == "cross_frame":
            b, v = x.shape[:2]
            tok = self.tower.tokens(x.flatten(0, 1), apply_ln=self.tower.embedding != "tokens_mean_pre_ln")
            return self.fusion(tok.view(b, v, *tok.shape[1:]), valid)
        return self.fusion(self.embed_views(x), valid)

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        emb = self.embed(images, valid)
        return {"embedding": emb, **self.heads(emb)}

    def freeze(self, policy: str = "all_but_last") -> None:
        """PIGEON's fine-tuning freeze policy: ``all_but_last`` freezes every tower parameter
        except the last transformer block and the final norm/projection (heads and fusion stay
        trainable); ``all`` freezes the whole tower (linear probe); ``none`` unfreezes it."""
        if policy not in FREEZE_POLICIES:
            raise ValueError(f"freeze policy must be one of {FREEZE_POLICIES}, got {policy!r}")
        for p in self.tower.parameters():
            p.requires_grad_(policy == "none")
        if policy == "all_but_last":
            v = self.tower.visual
            last = [v.transformer.resblocks[-1]] if hasattr(v, "transformer") else []
            tail = [getattr(v, n) for n in ("ln_post",) if isinstance(getattr(v, n, None), nn.Module)]
            for m in last + tail:
                for p in m.parameters():
                    p.requires_grad_(True)
            if isinstance(getattr(v, "proj", None), nn.Parameter):
                v.proj.requires_grad_(True)
