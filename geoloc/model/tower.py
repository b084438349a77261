"""open_clip vision towers and the PIGEON embedding (mean over output tokens).

* :func:`build_clip` builds a full open_clip model (vision + text tower; pretraining needs
  both) by architecture name, with an optional pretrained tag, a local checkpoint
  (safetensors or a torch state dict loaded with ``weights_only=True``), an ``hf-hub:``
  name, or a custom configuration dict.
* :func:`build_vision_tower` wraps the vision part in :class:`VisionTower`, whose forward
  maps images [N, 3, H, W] to embeddings [N, D].

Embedding (``embedding="tokens_mean"``, the default): for open_clip ViTs, the mean over
ALL output tokens (class token and patch tokens) after the final LayerNorm ``ln_post`` and
BEFORE the projection, so D is the transformer width (1024 for ViT-L/14, as PIGEON's
``CLIP_EMBED_DIM``). PIGEON takes the mean of HF ``last_hidden_state``, i.e. before the
final LayerNorm; we apply ``ln_post`` per token first because CLIP's residual stream has
a few huge-magnitude channels that would otherwise dominate the mean, the Euclidean
prototype distances and the linear head (documented deviation; ``"tokens_mean_pre_ln"``
reproduces PIGEON exactly). ``embedding="pooled"`` is open_clip's projected image
embedding (the CLIP space, D = embed_dim); towers that are not open_clip ViTs (ModifiedResNet,
timm) always use their pooled output.

Two small architectures that train on a CPU are registered with open_clip on import:
``geoloc-tiny-vit`` (width 128, 4 layers, patch 16, 64 px) and ``geoloc-small-vit``
(width 256, 6 layers, patch 16, 128 px); see ``geoloc/model/configs``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.transformer import VisionTransformer
from torch import nn

from geoloc.errors import InputFileError

CONFIG_DIR = Path(__file__).parent / "configs"
EMBEDDINGS = ("tokens_mean", "tokens_mean_pre_ln", "pooled")


def register_model_configs() -> list[str]:
    """Register geoloc's small open_clip architectures (idempotent); returns their names."""
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    if any(n not in open_clip.list_models() for n in names):
        open_clip.add_model_config(CONFIG_DIR)
    return names


register_model_configs()


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without unpickling arbitrary objects.

    ``*.safetensors`` via safetensors; anything else via ``torch.load(weights_only=True)``.
    A ``{"state_dict": ...}`` wrapper and DDP ``module.`` prefixes are removed.
    Raises :class:`InputFileError` if the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / truncated / pickled objects refused
        raise InputFileError(f"checkpoint {path} could not be read: {exc}") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InputFileError(f"checkpoint {path} is not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _load_into(model: nn.Module, sd: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Load a full-CLIP (``visual.*`` keys) or vision-only state dict into an open_clip model.

    Every vision-tower parameter must be present and no key may be unknown; text-tower keys
    may be absent (a vision-only checkpoint saved with the ``visual.`` prefix).
    """
    full = any(k.startswith("visual.") for k in sd)
    target = model if full else model.visual
    try:
        missing, unexpected = target.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise InputFileError(f"checkpoint {path} does not fit this architecture: {exc}") from exc
    vis_missing = [k for k in missing if not full or k.startswith("visual.")]
    if vis_missing or unexpected:
        raise InputFileError(
            f"checkpoint {path} does not fit this architecture: missing {vis_missing[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init(active: bool) -> Iterator[None]:
    """Drop open_clip's "No pretrained weights loaded ... initialized randomly" warning when no
    pretrained tag was asked for: the weights are either meant to be random or loaded next
    (a checkpoint or a bundle's model.safetensors), so the warning would mislead."""
    filt = _DropRandomInitWarning()
    root = logging.getLogger()
    if active:
        root.addFilter(filt)
    try:
        yield
    finally:
        root.removeFilter(filt)


def build_clip(
    name: str,
    *,
    pretrained: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    image_size: int | None = None,
    custom_cfg: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Full open_clip model (``.visual`` and text tower).

    Args:
        name: open_clip architecture (``open_clip.list_models()``), ``hf-hub:org/repo``, or a
            label for ``custom_cfg``.
        pretrained: open_clip pretrained tag (needs the network or a populated cache).
        checkpoint: local weights (safetensors or torch state dict), full CLIP or vision only.
        image_size: input side in pixels (overrides the config; positional embeddings are
            created for it, so a checkpoint must match it).
        custom_cfg: ``{"embed_dim", "vision_cfg", "text_cfg"}`` dict: a new architecture.
    """
    if pretrained and checkpoint:
        raise ValueError("give either a pretrained tag or a local checkpoint, not both")
    if custom_cfg is not None:
        cfg = dict(custom_cfg)
        if image_size is not None:
            cfg["vision_cfg"] = {**cfg["vision_cfg"], "image_size": image_size}
        model = open_clip.CLIP(**cfg)
    else:
        if not name.startswith("hf-hub:") and name not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {name!r}; see open_clip.list_models()")
        from geoloc.hub import ensure_clip_weights, hub_offline

        # cached, or downloaded now; offline and not cached: one-line OfflineError within seconds
        ensure_clip_weights(name, pretrained)
        with _quiet_random_init(pretrained is None), hub_offline():
            model = open_clip.create_model(
                name,
                pretrained=pretrained,
                force_image_size=image_size,
            )
    if checkpoint is not None:
        _load_into(model, load_state_dict_file(checkpoint), checkpoint)
    return model.to(device)


def _image_size(visual: nn.Module) -> int:
    size = getattr(visual, "image_size", 224)
    return int(size[0] if isinstance(size, tuple | list) else size)


class VisionTower(nn.Module):
    """Images [N, 3, H, W] (normalised with :attr:`mean` / :attr:`std`) -> embeddings [N, D].

    ``tokens(x)`` gives the per-token outputs [N, L, width] (ViTs only) for token-level
    fusion; ``forward`` gives the embedding chosen by ``embedding`` (module docstring).
    """

    def __init__(self, visual: nn.Module, *, embedding: str = "tokens_mean", name: str = "",
                 mean: tuple[float, ...] = open_clip.OPENAI_DATASET_MEAN,
                 std: tuple[float, ...] = open_clip.OPENAI_DATASET_STD) -> None:
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {embedding!r}")
        self.visual = visual
        self.name = name
        self.is_vit = isinstance(visual, VisionTransformer) and getattr(visual, "attn_pool", None) is None
        self.embedding = embedding if self.is_vit else "pooled"
        self.image_size = _image_size(visual)
        self.mean, self.std = tuple(mean), tuple(std)
        if self.embedding == "pooled":
            self.embed_dim = int(getattr(visual, "output_dim", 0) or self._probe_dim())
        else:
            self.embed_dim = int(visual.transformer.width)

    def _probe_dim(self) -> int:
        first = next(self.visual.parameters())  # on the tower's device and dtype (a CUDA tower works)
        with torch.no_grad():
            x = torch.zeros(1, 3, self.image_size, self.image_size, device=first.device, dtype=first.dtype)
            out = self.visual(x)
            return int((out[0] if isinstance(out, tuple) else out).shape[-1])

    def tokens(self, images: torch.Tensor, *, apply_ln: bool = True) -> torch.Tensor:
        """ViT output tokens [N, L, width] (class token first), after ``ln_post`` if ``apply_ln``."""
        if not self.is_vit:
            raise TypeError(f"tower {self.name!r} is not an open_clip ViT; token outputs need one")
        v = self.visual
        x = v.transformer(v._embeds(images))
        return v.ln_post(x) if apply_ln else x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got {tuple(images.shape)}")
        if self.embedding == "pooled":
            out = self.visual(images)
            return out[0] if isinstance(out, tuple) else out
        return self.tokens(images, apply_ln=self.embedding == "tokens_mean").mean(dim=1)


def build_vision_tower(
    name: str,
    *,
    pretrained: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    image_size: int | None = None,
    custom_cfg: dict[str, Any] | None = None,
    embedding: str = "tokens_mean",
    device: str | torch.device = "cpu",
) -> VisionTower:
    """Vision tower of an open_clip architecture as a :class:`VisionTower` (see :func:`build_clip`)."""
    model = build_clip(name, pretrained=pretrained, checkpoint=checkpoint, image_size=image_size,
                       custom_cfg=custom_cfg, device=device)
    pp = getattr(model.visual, "preprocess_cfg", None) or {}
    mean = tuple(pp.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(pp.get("std", open_clip.OPENAI_DATASET_STD))
    return VisionTower(model.visual, embedding=embedding, name=name, mean=mean, std=std)
