"""Contrastive image <-> location-caption pretraining of an open_clip CLIP (PIGEON.md §1.3).

Every view of every training location is one example, paired with captions generated from
the location's metadata (:mod:`geoloc.train.captions`). Losses (representation):

* ``infonce``: CLIP's symmetric InfoNCE with a learnable logit scale;
* ``dreamlip``: DreamLIP with ``captions_per_location`` sub-captions per image (CLIP term
  averaged over the captions + multi-positive term; the patch-grouping term is off);
* ``multicsr``: InfoNCE with MultiCSR false-negative masking: in-batch pairs whose
  locations are closer than ``multicsr_km`` km are removed from each other's softmax
  (coordinates gathered across ranks, so the mask is global under DDP).

The trained CLIP (vision and text towers) is saved as safetensors, loadable with
``geoloc.model.build_clip(tower, checkpoint=path, image_size=...)`` and as the starting point
of fine-tuning (``GeoModel(config, checkpoint=path)``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geoloc.train.captions import location_captions
from geoloc.train.data import LocationImages, collate_locations
from geoloc.train.presets import TrainPreset, describe_batch, rank_batch

CLIP_FILE = "clip.safetensors"


CaptionFn = Callable[[dict, int, int, int, Any], list[str]]
"""``caption_fn(meta, k, seed, index, heading) -> k captions`` of one (location, view) item."""


def location_caption_fn(style: str = "streetview") -> CaptionFn:
    """PIGEON's location captions (:func:`geoloc.train.captions.location_captions`) as a caption_fn."""
    def fn(meta: dict, k: int, seed: int, index: int, heading: Any) -> list[str]:
        return location_captions(meta, k, seed=seed, index=index, style=style, heading=heading)

    return fn


class CaptionedViews(torch.utils.data.Dataset):
    """One item per (location, view): ``{"images": [3, S, S], "tokens": [K, L] int64,
    "latlon": [2] degrees, "ok": bool}``. Captions are drawn once, reproducibly from
    ``(seed, item)``, and tokenised with ``tokenizer``. ``caption_fn`` replaces PIGEON's location
    captions (e.g. SynthWorld content captions for generic pretraining)."""

    def __init__(self, images: LocationImages, tokenizer: Any, *, captions_per_item: int = 1, seed: int = 0,
                 style: str = "streetview", caption_fn: CaptionFn | None = None) -> None:
        self.images = images
        frame = images.locations.frame
        self.views = images.locations.views
        metas = frame.to_dict("records")
        headings = frame["headings"].tolist() if "headings" in frame.columns else [None] * len(frame)
        texts: list[str] = []
        self.captions: list[list[str]] = []
        for j in range(len(frame) * self.views):
            loc, view = divmod(j, self.views)
            h = headings[loc]
            heading = h[view] if isinstance(h, tuple | list) and view < len(h) else None
            caps = (caption_fn or location_caption_fn(style))(metas[loc], captions_per_item, seed, j, heading)
            self.captions.append(caps)
            texts.extend(caps)
        # int32 halves the host memory of the token table (N x K x 77); the model gets int64
        self.tokens = tokenizer(texts).view(len(self.captions), captions_per_item, -1).to(torch.int32)
        self.latlon = torch.stack([images.lat, images.lon], dim=1)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, j: int) -> dict[str, torch.Tensor]:
        loc, view = divmod(int(j), self.views)
        pixels, ok = self.images.pixels(loc)
        return {"images": pixels[view], "tokens": self.tokens[j].long(), "latlon": self.latlon[loc],
                "ok": torch.tensor(ok)}


class ClipPair(nn.Module):
    """Trainer adapter: ``forward(batch) -> (image [B, E], text [B, E] or [B, K, E])``."""

    def __init__(self, clip: nn.Module, multi_caption: bool = False) -> None:
        super().__init__()
        self.clip = clip
        self.multi_caption = multi_caption

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.clip.encode_image(batch["images"])
        tok = batch["tokens"]
        if not self.multi_caption:
            return img, self.clip.encode_text(tok[:, 0])
        b, k, length = tok.shape
        return img, self.clip.encode_text(tok.reshape(b * k, length)).view(b, k, -1)


class _MaskByKm:
    """``target_fn`` for PairLoss: MultiCSR keep-mask from gathered coordinates (no grad)."""

    def __init__(self, km: float) -> None:
        from representation.miners.false_negative import FalseNegativeMasker

        self.masker = FalseNegativeMasker("km", threshold=km)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from representation.distributed.gather import GatherSpec, gather_features

        ll = gather_features(batch["latlon"].float(), GatherSpec(local_loss=False, with_grad=False))
        return {"mask": self.masker(ll, ll)}


def build_pretrain_loss(preset: TrainPreset) -> nn.Module:
    """The Trainer ``loss_fn`` of the preset's ``pretrain_loss``."""
    from representation.losses import InfoNCELoss
    from representation.losses.dreamlip import DreamLIPLoss
    from representation.train import PairLoss

    if preset.pretrain_loss == "dreamlip":
        # geoloc's reading (documented above), not the reference defaults of DreamLIPLoss
        return PairLoss(DreamLIPLoss(learn_scale=True, grouping_weight=0.0, clip_captions="mean",
                                     multipos="softce", multipos_weight=1.0))
    if preset.pretrain_loss == "multicsr":
        return PairLoss(InfoNCELoss.clip(), target_fn=_MaskByKm(preset.multicsr_km))
    return PairLoss(InfoNCELoss.clip())


def new_clip(preset: TrainPreset) -> nn.Module:
    """The preset's open_clip CLIP (pretrained tag / checkpoint / random init)."""
    from geoloc.model import build_clip

    return build_clip(preset.tower, pretrained=preset.pretrained, checkpoint=preset.checkpoint,
                      image_size=preset.image_size)


def pretrain(images: LocationImages, preset: TrainPreset, out_dir: str | Path, *, progress: bool = True,
             stop_at_step: int | None = None, clip: nn.Module | None = None,
             caption_fn: CaptionFn | None = None) -> Path:
    """Pretrain a CLIP on ``images`` with synthetic captions (PIGEON's location captions, or
    ``caption_fn``'s); returns the saved ``out_dir/clip.safetensors`` (written by rank 0; resumes
    from ``out_dir`` checkpoints)."""
    import open_clip

    from geoloc.model.unused import freeze_unused
    from representation.distributed.launch import barrier, init_from_env
    from representation.train import TrainConfig, Trainer

    out = Path(out_dir)
    env = init_from_env(preset.device)
    torch.manual_seed(preset.seed)
    clip = clip if clip is not None else new_clip(preset)
    frozen = freeze_unused(clip)  # open_clip's own logit scale: the loss has its own (DDP needs every grad)
    if preset.grad_checkpointing:
        clip.set_grad_checkpointing(True)
    tokenizer = open_clip.get_tokenizer(preset.tower)
    k = preset.captions_per_location if preset.pretrain_loss == "dreamlip" else 1
    ds = CaptionedViews(images, tokenizer, captions_per_item=k, seed=preset.seed, style=preset.caption_style,
                        caption_fn=caption_fn)
    check_caption_diversity([c for caps in ds.captions for c in caps], places=len(images.locations.frame),
                            strict=preset.strict)
    batch = rank_batch(preset.pretrain_batch_size, len(ds), env.world_size, what="pretraining", minimum=2)
    micro = preset.pretrain_micro_batch_size
    micro = None if micro is None or micro >= batch else micro
    if progress and env.is_main:
        print(f"[pretrain] {describe_batch(batch, env.world_size, micro)}; frozen (unused by the loss): "
              f"{', '.join(frozen) or 'none'}", file=sys.stderr)
    cfg = TrainConfig(out_dir=str(out), total_steps=preset.pretrain_steps, batch_size=batch, micro_batch_size=micro,
                      lr=preset.pretrain_lr, weight_decay=preset.weight_decay,
                      warmup_steps=min(preset.warmup_steps, preset.pretrain_steps - 1), grad_clip=preset.grad_clip,
                      precision=preset.precision, seed=preset.seed, checkpoint_every=preset.checkpoint_every,
                      keep_checkpoints=1, device=preset.device, progress=progress,
                      num_workers=preset.num_workers)
    model = ClipPair(clip, multi_caption=preset.pretrain_loss == "dreamlip")
    Trainer(model, build_pretrain_loss(preset), ds, cfg,
            collate_fn=collate_locations).fit(stop_at_step)
    if preset.grad_checkpointing:
        clip.set_grad_checkpointing(False)
    path = out / CLIP_FILE
    if env.is_main:
        save_clip(clip, path, {"tower": preset.tower, "steps": str(preset.pretrain_steps),
                               "loss": preset.pretrain_loss})
    barrier()  # no rank reads clip.safetensors before rank 0 has published it
    clip.to("cpu")
    return path


def save_clip(clip: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """Write ``clip``'s state dict as safetensors atomically: a temporary file in the same folder,
    fsynced, then ``os.replace`` (a reader sees the old file or the whole new one, never a part)."""
    from safetensors.torch import save_file

    from representation.train.checkpoint import fsync_path

    state = {name: t.detach().cpu().contiguous() for name, t in clip.state_dict().items()}
    tmp = path.with_name(f".tmp-{path.name}")
    save_file(state, str(tmp), metadata={"format": "pt", **metadata})
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def check_caption_diversity(captions: list[str], *, places: int | None = None, strict: bool = False) -> float:
    """Distinct captions per place (:func:`geoloc.train.metadata.caption_diversity`); warns (or, ``strict``,
    raises :class:`GeolocError`) when it is below :data:`geoloc.train.metadata.MIN_CAPTION_DIVERSITY`:
    pretraining on near-constant captions learns nothing about places."""
    import warnings

    from geoloc.errors import GeolocError
    from geoloc.train.metadata import MIN_CAPTION_DIVERSITY, caption_diversity

    frac = caption_diversity(captions, places)
    if frac < MIN_CAPTION_DIVERSITY:
        msg = (f"only {len(set(captions))} distinct pretraining captions for {places or len(captions)} places "
               f"({frac:.1%} < {MIN_CAPTION_DIVERSITY:.0%}): the captions carry little information about the places; give the "
               f"manifest valid coordinates or town/admin1/country columns")
        if strict:
            raise GeolocError(msg)
        warnings.warn(msg, stacklevel=2)
    return frac


def caption_examples(images: LocationImages, preset: TrainPreset, n: int = 3) -> list[str]:
    """A few generated captions (for the model card and logs)."""
    frame = images.locations.frame
    out = []
    for j in range(min(n, len(frame))):
        out += location_captions(frame.iloc[j].to_dict(), 1, seed=preset.seed, index=j * images.locations.views,
                                 style=preset.caption_style)
    return out


__all__ = [
    "CLIP_FILE",
    "CaptionFn",
    "CaptionedViews",
    "ClipPair",
    "build_pretrain_loss",
    "caption_examples",
    "check_caption_diversity",
    "location_caption_fn",
    "new_clip",
    "pretrain",
    "save_clip",
]
