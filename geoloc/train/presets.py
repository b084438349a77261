"""Training presets: every setting of a geoloc training run in one JSON-able dataclass.

``get_preset(name, **overrides)`` returns a validated :class:`TrainPreset`:

* ``pigeon``: PIGEON street view (Haas et al., CVPR 2024; shared/design/PIGEON.md): CLIP
  ViT-L/14-336, four views fused by the mean, semantic geocells of 30..60 training points,
  haversine-smoothed loss with tau 75 km, synthetic-caption pretraining, refinement
  OPTICS (3, 0.15), top-k 5, T 1.6, 1000 km cap.
* ``pigeotto``: PIGEOTTO (single image): larger cells (1000..2000), tau 65 km, refinement
  OPTICS (100, 0.1), top-k 40, T 0.6, no cap.
* ``synthworld-tiny``: the CPU-sized embedded default model (``geoloc-tiny-rn``, a small
  open_clip ModifiedResNet, 64 px, four views) trained on a SynthWorld sample it generates itself.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoloc.errors import GeolocError

CELL_KINDS = ("semantic", "grid", "quadtree")
LOSSES = ("haversine", "onehot")
TARGET_FORMS = ("softmax", "nearest", "paper")
PRETRAIN_LOSSES = ("infonce", "dreamlip", "multicsr")
FREEZE_POLICIES = ("none", "all_but_last", "all")
FUSIONS = ("mean", "attention", "cross_frame")
CAPTION_STYLES = ("streetview", "photo")
AUX_TASKS = ("country", "admin1", "climate", "month")


@dataclass
class TrainPreset:
    """All settings of a training run (see ``docs/training.md``).

    Model
        tower: open_clip architecture name (``geoloc-tiny-vit`` trains on a CPU; PIGEON
            ``ViT-L-14-336``).
        pretrained: open_clip pretrained tag (user-supplied weights; None = random init).
        checkpoint: local CLIP / vision checkpoint file (safetensors or state dict) to start from.
        image_size: input side in pixels (None = the architecture's).
        embedding: ``tokens_mean`` | ``tokens_mean_pre_ln`` | ``pooled`` (see geoloc.model.tower).
        views: images per location (4 = PIGEON's headings 0/90/180/270; 1 = single image).
        train_views: views fed per location in a fine-tuning step, a random subset (None, or a value
            >= views = all); evaluation and prediction use every view.
        fusion: ``mean`` (PIGEON) | ``attention`` | ``cross_frame``.
    Geocells
        cells: ``semantic`` (PIGEON admin-boundary cells) | ``grid`` | ``quadtree``.
        cell_min_size, cell_max_size: training locations per semantic cell (PIGEON 30/60,
            PIGEOTTO 1000/2000); ``quadtree`` uses ``cell_max_size`` as its leaf capacity.
        grid_deg: box side in degrees for ``grid`` cells.
        cell_optics: OPTICS passes that split large semantic cells: ``pigeon`` ((8, 0.05),
            (10, 0.025), (15, 0.015)) or ``yfcc`` (PIGEOTTO's (300, 0.05), (400, 0.005), (1000, 0.0001)).
    Fine-tuning loss
        loss: ``haversine`` (PIGEON's smoothed targets) | ``onehot`` (ablation).
        tau_km: smoothing constant in km (PIGEON 75, PIGEOTTO 65).
        target_form: ``softmax`` (default for every preset) = the normalised targets
            ``softmax_c(-d_c / tau)``, which is what the paper's and the reference code's targets both
            become once divided by their sum, computed in log space (bounded, stable in float32/bf16);
            ``nearest`` = the reference code's un-normalised ``exp(-(d_c - d_min) / tau)`` (y <= 1);
            ``paper`` = the paper's equation ``exp(-(d_c - d_true) / tau)``: unbounded (y > 1
            wherever a centroid is nearer than the true cell's; ~1e116 for antipodal cells at 75 km),
            kept for the ablation.
        head_hidden: width of a shared block between the embedding and the heads (0 = linear heads).
        aux_heads: auxiliary classification tasks among ``country, admin1, climate, month``;
            a task whose column is missing from the manifest is skipped (noted in the card).
        loss_weights: ``{task: weight}`` (geocell 1.0 unless given; PIGEON climate 2, month 1).
        freeze: ``none`` | ``all_but_last`` (PIGEON: all tower layers but the last frozen) | ``all``.
        head_epochs: after fine-tuning, train the heads further on the frozen tower's cached view
            embeddings for this many epochs (0 = off; :func:`geoloc.train.pipeline.refit_heads`).
        head_lr, head_view_dropout: that stage's learning rate and per-view dropout of the mean.
    Contrastive pretraining (image <-> synthetic caption)
        pretrain_steps: optimizer steps (0 = no pretraining).
        pretrain_loss: ``infonce`` (CLIP) | ``dreamlip`` (several captions per image) |
            ``multicsr`` (InfoNCE with in-batch pairs closer than ``multicsr_km`` km masked).
        pretrain_batch_size, pretrain_lr: GLOBAL batch (image-caption pairs per optimizer step, summed
            over all ranks: the contrastive batch; each of W ranks holds ``pretrain_batch_size / W``) and
            AdamW learning rate (tied to the global batch, so it does not change with the GPU count).
        pretrain_micro_batch_size: GradCache chunks per rank in pretraining (None = the whole per-rank
            batch at once); the loss still sees the full global batch of negatives, only activation
            memory shrinks.
        captions_per_location: captions drawn per location (DreamLIP's K; 1 otherwise).
        caption_style: ``streetview`` ("A street view photo ...") | ``photo`` (PIGEOTTO).
        multicsr_km: false-negative radius in km for ``multicsr``.
    Fine-tuning optimisation
        finetune_steps, batch_size (GLOBAL: locations per optimizer step over all ranks; each of W
        ranks holds ``batch_size / W``, so the recipe and its lr do not change with the GPU count),
        lr, weight_decay, warmup_steps, grad_clip (global L2 norm; None = off), precision
        (``fp32``|``bf16``|``fp16``, CUDA only), micro_batch_size (GradCache chunks per rank; None =
        the whole per-rank batch), checkpoint_every.
        grad_checkpointing: recompute the tower's transformer blocks in the backward pass instead of
            storing their activations (open_clip's ``set_grad_checkpointing``; ViT towers, pretraining
            and fine-tuning): ~1/3 more compute for a fraction of the activation memory.
    Retrieval refinement (PIGEON.md §1.5)
        refine: build prototypes (False = bundle without refinement).
        refine_min_samples, refine_xi: OPTICS parameters (PIGEON 3/0.15, PIGEOTTO 100/0.1).
        refine_top_k, refine_temperature, refine_max_km (km; None = no cap), refine_within
        (``nearest`` | ``centroid``): the inference settings stored in the bundle.
        refine_tune: choose ``refine_temperature`` and ``refine_top_k`` on validation locations
            held out of fine-tuning and of the prototypes (:func:`geoloc.refine.tune.tune_refinement`);
            the preset's values are then only the fallback when there are too few locations.
        val_fraction: share of the training locations held out for that validation (used when the
            manifest has no ``split`` column with ``val`` rows; at most 5,000 locations).
    SynthWorld data (``train_preset`` only; ignored by ``train_bundle``)
        synth_scenes: locations generated (split 80/10/10 by SynthWorld's ``split`` column;
            train + val are trained on, test is held out).
        synth_image_size: rendered side in pixels.
        synth_seed: SynthWorld sampling seed.
    Run
        seed: seeds the geocells, the captions, the model initialisation and the data order.
        strict: refuse data that would train on little signal (captions < 10 % distinct) instead of
            warning.
        device: ``auto`` | ``cpu`` | ``cuda``.
        cache_images: decode every image once into memory (uint8) instead of on every step.
        eval_batch_size: locations per forward pass when embedding / evaluating.
        num_workers: DataLoader worker processes per rank decoding training images (0 = in the
            training process; with ``cache_images=True`` the pixels are in memory and 0 is right).
    """

    name: str = "custom"
    description: str = ""
    # model
    tower: str = "geoloc-tiny-vit"
    pretrained: str | None = None
    checkpoint: str | None = None
    image_size: int | None = 64
    embedding: str = "tokens_mean"
    views: int = 1
    train_views: int | None = None
    fusion: str = "mean"
    # geocells
    cells: str = "semantic"
    cell_min_size: int = 30
    cell_max_size: int = 60
    grid_deg: float = 10.0
    cell_optics: str = "pigeon"
    # fine-tuning loss
    loss: str = "haversine"
    tau_km: float = 75.0
    target_form: str = "softmax"
    head_hidden: int = 0
    aux_heads: list[str] = field(default_factory=list)
    loss_weights: dict[str, float] = field(default_factory=dict)
    freeze: str = "none"
    head_epochs: int = 0
    head_lr: float = 1e-3
    head_view_dropout: float = 0.3
    # pretraining
    pretrain_steps: int = 0
    pretrain_loss: str = "infonce"
    pretrain_batch_size: int = 64
    pretrain_micro_batch_size: int | None = None
    pretrain_lr: float = 1e-4
    captions_per_location: int = 1
    caption_style: str = "streetview"
    multicsr_km: float = 25.0
    # fine-tuning optimisation
    finetune_steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float | None = 1.0
    precision: str = "fp32"
    micro_batch_size: int | None = None
    grad_checkpointing: bool = False
    checkpoint_every: int = 500
    # refinement
    refine: bool = True
    refine_min_samples: int = 3
    refine_xi: float = 0.15
    refine_top_k: int = 5
    refine_temperature: float = 1.6
    refine_max_km: float | None = 1000.0
    refine_within: str = "nearest"
    refine_tune: bool = True
    val_fraction: float = 0.05
    # SynthWorld data (train_preset)
    synth_scenes: int = 0
    synth_image_size: int = 64
    synth_seed: int = 0
    # run
    seed: int = 0
    strict: bool = False
    device: str = "auto"
    cache_images: bool = True
    eval_batch_size: int = 128
    num_workers: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`GeolocError` naming the first bad field."""
        def choice(name: str, allowed: tuple[str, ...]) -> None:
            if getattr(self, name) not in allowed:
                raise GeolocError(f"preset field {name}={getattr(self, name)!r}: must be one of {list(allowed)}")

        def positive(name: str, zero_ok: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero_ok):
                raise GeolocError(f"preset field {name}={v!r}: must be a {'non-negative' if zero_ok else 'positive'} "
                                  f"number")

        choice("cells", CELL_KINDS)
        choice("cell_optics", ("pigeon", "yfcc"))
        choice("loss", LOSSES)
        choice("target_form", TARGET_FORMS)
        choice("pretrain_loss", PRETRAIN_LOSSES)
        choice("freeze", FREEZE_POLICIES)
        choice("fusion", FUSIONS)
        choice("caption_style", CAPTION_STYLES)
        choice("refine_within", ("nearest", "centroid"))
        choice("precision", ("fp32", "bf16", "fp16"))
        choice("device", ("auto", "cpu", "cuda"))
        for name in ("views", "cell_min_size", "cell_max_size", "batch_size", "pretrain_batch_size",
                     "captions_per_location", "refine_min_samples", "refine_top_k", "eval_batch_size",
                     "checkpoint_every", "synth_image_size"):
            positive(name)
            if not isinstance(getattr(self, name), int):
                raise GeolocError(f"preset field {name}={getattr(self, name)!r}: must be an integer")
        for name in ("pretrain_steps", "finetune_steps", "warmup_steps", "synth_scenes", "seed", "head_hidden",
                     "head_epochs", "num_workers"):
            positive(name, zero_ok=True)
        for name in ("tau_km", "lr", "pretrain_lr", "grid_deg", "refine_xi", "refine_temperature", "multicsr_km", "head_lr"):
            positive(name)
        positive("weight_decay", zero_ok=True)
        if not 0.0 <= self.head_view_dropout < 1.0:
            raise GeolocError(f"preset field head_view_dropout={self.head_view_dropout!r}: must be in [0, 1)")
        if not 0.0 <= self.val_fraction < 0.5:
            raise GeolocError(f"preset field val_fraction={self.val_fraction!r}: must be in [0, 0.5)")
        if self.cell_min_size > self.cell_max_size:
            raise GeolocError(f"preset: cell_min_size {self.cell_min_size} > cell_max_size {self.cell_max_size}")
        bad = [t for t in self.aux_heads if t not in AUX_TASKS]
        if bad:
            raise GeolocError(f"preset field aux_heads: unknown task(s) {bad}; known: {list(AUX_TASKS)}")
        bad = [t for t in self.loss_weights if t not in (*AUX_TASKS, "geocell")]
        if bad:
            raise GeolocError(f"preset field loss_weights: unknown task(s) {bad}")
        if self.refine_max_km is not None and not self.refine_max_km > 0:
            raise GeolocError(f"preset field refine_max_km={self.refine_max_km!r}: must be > 0 km or None")
        if self.train_views is not None and (isinstance(self.train_views, bool) or not isinstance(self.train_views, int)
                                             or self.train_views < 1):
            raise GeolocError(f"preset field train_views={self.train_views!r}: must be a positive integer or None")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise GeolocError(f"preset field micro_batch_size={self.micro_batch_size}: must be in [1, batch_size]")
        if self.pretrain_micro_batch_size is not None and not 1 <= self.pretrain_micro_batch_size <= \
                self.pretrain_batch_size:
            raise GeolocError(f"preset field pretrain_micro_batch_size={self.pretrain_micro_batch_size}: must be in "
                              f"[1, pretrain_batch_size]")
        if self.pretrained and self.checkpoint:
            raise GeolocError("preset: give either a pretrained tag or a checkpoint, not both")
        if self.pretrain_loss == "dreamlip" and self.pretrain_steps and self.captions_per_location < 2:
            raise GeolocError("preset: pretrain_loss 'dreamlip' needs captions_per_location >= 2")
        if self.finetune_steps == 0 and not self.pretrain_steps and self.pretrained is None and not self.checkpoint:
            raise GeolocError("preset: finetune_steps=0 with a randomly initialised tower trains nothing")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainPreset:
        d = upgrade_preset_dict(d)
        check_keys(d)
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainPreset:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise GeolocError(f"{path}: cannot read preset JSON ({exc})") from exc
        return cls.from_dict(d)

    def replace(self, **overrides: Any) -> TrainPreset:
        """A copy with ``overrides`` applied (unknown keys -> :class:`GeolocError`)."""
        check_keys(overrides)
        return dataclasses.replace(self, **overrides)


def rank_batch(global_batch: int, n_items: int, world_size: int, *, what: str = "training",
               minimum: int = 1) -> int:
    """Per-rank batch of a preset's GLOBAL batch on ``world_size`` ranks.

    The global batch is capped at ``n_items`` (a small data set) and split evenly: each rank gets
    ``min(global_batch, n_items) // world_size`` items (at least ``minimum``). When the global batch
    is not a multiple of the rank count the remainder is dropped with a warning, so the effective
    global batch is ``per_rank * world_size``. The learning rate is the preset's: it belongs to the
    global batch, which does not change with the number of GPUs."""
    import warnings

    g = min(int(global_batch), int(n_items))
    per = g // int(world_size)
    if per < minimum:
        raise GeolocError(f"{what}: {n_items} item(s) cannot fill a batch of {minimum} on each of {world_size} "
                          f"rank(s); use fewer processes or more data")
    if per * world_size != g:
        warnings.warn(f"{what}: global batch {g} is not a multiple of {world_size} ranks; using {per} per rank "
                      f"(global {per * world_size})", stacklevel=2)
    return per


def describe_batch(per_rank: int, world_size: int, micro: int | None = None) -> str:
    """``"global batch 256 = 8 rank(s) x 32 (GradCache micro-batches of 8)"`` for the logs."""
    text = f"global batch {per_rank * world_size} = {world_size} rank(s) x {per_rank}"
    return text + (f" (GradCache micro-batches of {micro})" if micro else "")


def upgrade_preset_dict(d: dict[str, Any]) -> dict[str, Any]:
    """Read presets written by older versions: ``normalize_targets`` (bool) became ``target_form``
    (True -> ``softmax``, the same loss; False -> ``paper``, the old un-normalised default)."""
    if "normalize_targets" not in d:
        return d
    d = dict(d)
    old = d.pop("normalize_targets")
    d.setdefault("target_form", "softmax" if old else "paper")
    return d


def preset_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainPreset)]


def check_keys(d: dict[str, Any]) -> None:
    known = set(preset_fields())
    unknown = sorted(set(d) - known)
    if unknown:
        raise GeolocError(f"unknown preset field(s) {unknown}; known fields: {', '.join(sorted(known))}")


_PRESETS: dict[str, dict[str, Any]] = {
    "pigeon": dict(
        description="PIGEON street view (Haas et al., CVPR 2024): four views, CLIP ViT-L/14-336, "
                    "semantic geocells 30-60, haversine smoothing tau 75 km, caption pretraining, refinement",
        tower="ViT-L-14-336", image_size=336, views=4, fusion="mean", embedding="tokens_mean",
        cells="semantic", cell_min_size=30, cell_max_size=60, loss="haversine", tau_km=75.0,
        aux_heads=["climate", "month"], loss_weights={"climate": 2.0, "month": 1.0}, freeze="all_but_last",
        pretrain_steps=20_000, pretrain_loss="infonce", pretrain_batch_size=256, pretrain_lr=1e-6,
        caption_style="streetview", finetune_steps=20_000, batch_size=256, lr=2e-5, warmup_steps=500,
        precision="bf16", refine_min_samples=3, refine_xi=0.15, refine_top_k=5, refine_temperature=1.6,
        refine_max_km=1000.0, cache_images=False, pretrain_micro_batch_size=64, num_workers=8),
    "pigeotto": dict(
        description="PIGEOTTO (single image): CLIP ViT-L/14-336, semantic geocells 1000-2000, tau 65 km, "
                    "caption pretraining, refinement OPTICS (100, 0.1), top-k 40, T 0.6",
        tower="ViT-L-14-336", image_size=336, views=1, fusion="mean", embedding="tokens_mean",
        cells="semantic", cell_min_size=1000, cell_max_size=2000, cell_optics="yfcc", loss="haversine", tau_km=65.0,
        aux_heads=["climate"], loss_weights={"climate": 2.0}, freeze="all_but_last",
        pretrain_steps=20_000, pretrain_loss="infonce", pretrain_batch_size=256, pretrain_lr=5e-7,
        caption_style="photo", finetune_steps=20_000, batch_size=256, lr=2e-5, warmup_steps=500,
        precision="bf16", refine_min_samples=100, refine_xi=0.1, refine_top_k=40, refine_temperature=0.6,
        refine_max_km=None, cache_images=False, pretrain_micro_batch_size=64, num_workers=8),
    "synthworld-tiny": dict(
        description="CPU-sized default model: geoloc-tiny-rn (a small open_clip ModifiedResNet) at 64 px, four views "
                    "(two random views per training step), trained on generated SynthWorld scenes "
                    "(train_preset generates them)",
        tower="geoloc-tiny-rn", image_size=64, views=4, train_views=2, fusion="mean", embedding="pooled",
        cells="semantic", cell_min_size=30, cell_max_size=60, loss="haversine", tau_km=75.0,
        aux_heads=["country", "climate"], loss_weights={"country": 0.5, "climate": 0.5},
        freeze="none", head_epochs=20,
        pretrain_steps=0, pretrain_loss="infonce", pretrain_batch_size=64, pretrain_lr=5e-4,
        finetune_steps=2000, batch_size=64, lr=2e-3, weight_decay=0.05, warmup_steps=100,
        refine_min_samples=3, refine_xi=0.15, refine_top_k=5, refine_temperature=1.6, refine_max_km=1000.0,
        synth_scenes=30_000, synth_image_size=64, synth_seed=0, cache_images=True),
}

PRESET_NAMES = tuple(_PRESETS)


def get_preset(name: str, **overrides: Any) -> TrainPreset:
    """The named preset with ``overrides`` applied and validated.

    Raises :class:`GeolocError` for an unknown name, an unknown field or an invalid value.
    """
    if name not in _PRESETS:
        raise GeolocError(f"unknown preset {name!r}; known presets: {', '.join(PRESET_NAMES)}")
    check_keys(overrides)
    return TrainPreset(**{"name": name, **_PRESETS[name], **overrides})


__all__ = ["AUX_TASKS", "CELL_KINDS", "LOSSES", "PRESET_NAMES", "PRETRAIN_LOSSES", "TARGET_FORMS", "TrainPreset",
           "check_keys", "describe_batch", "get_preset", "preset_fields", "rank_batch", "upgrade_preset_dict"]
