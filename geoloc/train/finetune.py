"""Geocell fine-tuning through representation's Trainer (DDP under torchrun, GradCache, resume).

The loss is PIGEON's: ``-sum_c y_c log p_c`` with the paper-form haversine-smoothed targets
``y_c = exp(-(d_c - d_true) / tau)`` (:func:`geoloc.model.geocell_loss`), or one-hot
cross-entropy (``loss="onehot"``), plus weighted auxiliary cross-entropies (country,
admin-1, climate, month; label -1 = unknown). Rows whose images failed to decode
(``batch["ok"]`` False) are left out of every term.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from geoloc.errors import GeolocError
from geoloc.model import GEOCELL, GeoModel
from geoloc.model.losses import multitask_loss
from geoloc.model.unused import freeze_unused
from geoloc.train.data import collate_locations
from geoloc.train.presets import TrainPreset, describe_batch, rank_batch


class BatchGeoModel(nn.Module):
    """Trainer adapter: ``forward(batch) -> GeoModel(batch["images"])`` (a dict of logits and
    the fused ``embedding``). ``self.net`` is the :class:`GeoModel`.

    ``train_views``: in training mode, feed each location a random subset of this many of its views
    (drawn from torch's global generator, which the Trainer seeds and checkpoints, so a resumed run
    draws the same subsets). The mean fusion then sees 1..V views, which halves a step's cost at
    ``train_views=2`` of 4 and trains the heads for locations with fewer views (NMPZ games, one
    photo). Evaluation always uses every view."""

    def __init__(self, net: GeoModel, train_views: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.train_views = train_views

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, valid = batch["images"], batch.get("valid")
        if self.training and self.train_views and images.dim() == 5 and images.shape[1] > self.train_views:
            b, v = images.shape[:2]
            pick = torch.rand(b, v).argsort(dim=1)[:, : self.train_views].to(images.device)
            rows = torch.arange(b, device=images.device).unsqueeze(1)
            images = images[rows, pick]
            valid = None if valid is None else valid[rows, pick]
        return self.net(images, valid)


def rank_masked_mean(per_row: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_row`` over the ``counted`` rows of ALL ranks (:func:`representation.distributed.masked_mean`
    with a local loss): after DDP's gradient average the gradient is the full-batch one even when ranks
    count different numbers of rows (undecodable images, unknown labels); in one process
    :func:`geoloc.model.losses.masked_row_mean`. An all-reduce of two numbers, no host synchronisation."""
    from representation.distributed import GatherSpec, masked_mean

    return masked_mean(per_row, counted, GatherSpec(local_loss=True))


class GeocellTrainingLoss(nn.Module):
    """``loss_fn(features, batch)`` for the Trainer: geocell loss + weighted auxiliary losses.

    Args:
        cell_centroids: [C, 2] (lat, lon) degrees of the geocells.
        tau_km: haversine smoothing constant (km).
        smooth: True = PIGEON's soft targets, False = one-hot cross-entropy.
        target_form: ``softmax`` | ``nearest`` | ``paper`` (see ``TrainPreset.target_form`` and
            :func:`geoloc.model.geocell_loss`).
        weights: ``{task: weight}`` (missing tasks weigh 1).
        cell_key: batch key holding each row's true cell index.

    Returns ``{"geocell_loss": w * L_cell, "<task>_loss": w_t * L_t, "logs": {...}}``.
    """

    def __init__(self, cell_centroids: np.ndarray, *, tau_km: float = 75.0, smooth: bool = True,
                 weights: dict[str, float] | None = None, cell_key: str = "cell",
                 target_form: str = "softmax") -> None:
        super().__init__()
        self.register_buffer("centroids", torch.tensor(np.asarray(cell_centroids), dtype=torch.float32),
                             persistent=False)
        self.target_form = str(target_form)
        self.tau_km = float(tau_km)
        self.smooth = bool(smooth)
        self.weights = dict(weights or {})
        self.cell_key = cell_key

    def forward(self, features: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        # masked means, no boolean indexing and no bool()/int() of device tensors: nothing here waits for the GPU
        logits = features[GEOCELL]
        ok = batch["ok"].bool() if "ok" in batch else torch.ones(logits.shape[0], dtype=torch.bool,
                                                                  device=logits.device)
        labels = {GEOCELL: batch[self.cell_key],
                  **{t: batch[t] for t in features if t not in (GEOCELL, "embedding") and t in batch}}
        _, parts = multitask_loss(features, batch["lat"], batch["lon"], labels, self.centroids, tau_km=self.tau_km,
                                  smooth=self.smooth, target_form=self.target_form, rows=ok, mean=rank_masked_mean)
        out: dict[str, Any] = {f"{task}_loss": self.weights.get(task, 1.0) * term for task, term in parts.items()}
        logs = {f"{'geocell' if task == GEOCELL else task}_ce": term.detach() for task, term in parts.items()}
        with torch.no_grad():
            hit = logits.argmax(1) == batch[self.cell_key].to(logits.device)
            logs["cell_acc"] = rank_masked_mean(hit.float(), ok)
        out["logs"] = logs
        return out


def finetune(net: GeoModel, dataset: torch.utils.data.Dataset, cell_centroids: np.ndarray, preset: TrainPreset,
             out_dir: str | Path, *, progress: bool = True, stop_at_step: int | None = None) -> dict[str, Any]:
    """Fine-tune ``net`` in place on ``dataset`` (samples of :class:`geoloc.train.data.LocationImages`
    with a ``cell`` label and the auxiliary labels) with the preset's loss and optimiser settings.

    Checkpoints go to ``out_dir`` (resumed automatically); returns the Trainer's summary
    ``{"step", "last": {metric: value}}``. Runs under torchrun as well (DDP): ``preset.batch_size`` is
    the global batch, split over the ranks (:func:`geoloc.train.presets.rank_batch`).
    """
    from representation.distributed.launch import init_from_env
    from representation.train import TrainConfig, Trainer

    if preset.finetune_steps < 1:
        raise GeolocError("finetune_steps must be >= 1 to fine-tune")
    env = init_from_env(preset.device)
    net.freeze(preset.freeze)
    frozen = freeze_unused(net)
    if preset.grad_checkpointing:
        net.tower.visual.set_grad_checkpointing(True)
    batch = rank_batch(preset.batch_size, len(dataset), env.world_size, what="fine-tuning")  # type: ignore[arg-type]
    micro = preset.micro_batch_size if preset.micro_batch_size is None else min(preset.micro_batch_size, batch)
    if progress and env.is_main:
        print(f"[finetune] {describe_batch(batch, env.world_size, micro if micro and micro < batch else None)}; "
              f"device {env.device}; frozen (unused by the forward): {', '.join(frozen) or 'none'}", file=sys.stderr)
    cfg = TrainConfig(out_dir=str(out_dir), total_steps=preset.finetune_steps, batch_size=batch,
                      micro_batch_size=micro, lr=preset.lr, weight_decay=preset.weight_decay,
                      warmup_steps=min(preset.warmup_steps, preset.finetune_steps - 1),
                      grad_clip=preset.grad_clip, precision=preset.precision, seed=preset.seed,
                      checkpoint_every=preset.checkpoint_every, keep_checkpoints=1, log_every=10,
                      device=preset.device, progress=progress, num_workers=preset.num_workers)
    loss = GeocellTrainingLoss(cell_centroids, tau_km=preset.tau_km, smooth=preset.loss == "haversine",
                               weights=preset.loss_weights, target_form=preset.target_form)
    trainer = Trainer(BatchGeoModel(net, preset.train_views), loss, dataset, cfg, collate_fn=collate_locations)
    result = trainer.fit(stop_at_step=stop_at_step)
    if preset.grad_checkpointing:
        net.tower.visual.set_grad_checkpointing(False)
    net.to("cpu")
    return result


__all__ = ["BatchGeoModel", "GeocellTrainingLoss", "finetune", "freeze_unused", "rank_masked_mean"]
