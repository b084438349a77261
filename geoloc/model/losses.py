"""Fine-tuning losses: PIGEON's haversine-smoothed geocell loss and the multi-task sum."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geoloc.geo.distance import haversine_km_torch
from geoloc.model.heads import GEOCELL
from representation.functional.soft_ce import counted_mean, soft_cross_entropy
from representation.targets.geo import pigeon_geocell_targets


def haversine_smoothed_targets(lat: torch.Tensor, lon: torch.Tensor, true_cell: torch.Tensor,
                               cell_centroids: torch.Tensor, tau_km: float, form: str = "softmax") -> torch.Tensor:
    """PIGEON's haversine-smoothed targets [B, C] from true locations (degrees) and cell centroids
    [C, 2] (degrees): :func:`representation.targets.pigeon_geocell_targets` of the haversine distances
    (km, float32 at least). ``form``: ``softmax`` (normalised, default) | ``nearest`` (reference code,
    y <= 1) | ``paper`` (the paper's equation, unbounded, float64)."""
    cent = torch.as_tensor(cell_centroids)
    d = haversine_km_torch(lat.unsqueeze(1), lon.unsqueeze(1), cent[:, 0].to(lat.device).unsqueeze(0),
                           cent[:, 1].to(lat.device).unsqueeze(0))
    return pigeon_geocell_targets(d, true_cell.to(d.device), tau_km, form)


def masked_row_mean(per_row: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_row`` [B] over the rows where ``counted`` [B] bool is True (0 when none), without
    boolean indexing: no host-device synchronisation, so it stays on the GPU's queue. The value
    equals ``per_row[counted].mean()`` up to float summation order (bit for bit when every row counts);
    :func:`representation.functional.soft_ce.counted_mean`."""
    return counted_mean(per_row, counted)


def geocell_loss(logits: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor, true_cell: torch.Tensor,
                 cell_centroids: torch.Tensor | np.ndarray, tau_km: float = 75.0, smooth: bool = True,
                 target_form: str = "softmax", rows: torch.Tensor | None = None,
                 reduction: str = "mean") -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Geocell classification loss (mean over the rows that have a target).

    Args:
        logits: [B, C] geocell logits.
        lat, lon: [B] true locations in degrees.
        true_cell: [B] index of each sample's geocell in ``[0, C)``.
        cell_centroids: [C, 2] (lat, lon) cell centroids in degrees.
        tau_km: smoothing constant in km (PIGEON 75, PIGEOTTO 65).
        smooth: True -> ``-sum_c y_c log p_c`` with haversine-smoothed targets; False -> one-hot
            cross-entropy on ``true_cell`` (ablation).
        target_form: ``softmax`` (default: ``y = softmax(-d / tau)``, computed in log space, stable
            in float32 and bf16) | ``nearest`` (the reference code's un-normalised
            ``exp(-(d - d_min) / tau)``, y <= 1) | ``paper`` (the paper's ``exp(-(d - d_true) / tau)``,
            unbounded: evaluated in float64). See :func:`representation.targets.geocell_log_targets`.
        rows: [B] bool, the rows that count (None = all); the others (e.g. undecodable images) are
            left out of the mean by masking, not indexing (:func:`masked_row_mean`).
        reduction: ``"mean"`` (scalar) or ``"none"``: ``(per-row losses [B], counted [B] bool)`` for a
            caller that reduces across ranks (:func:`representation.distributed.masked_mean`).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be [B, C], got {tuple(logits.shape)}")
    true_cell = true_cell.long().to(logits.device)
    counted = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device) if rows is None else \
        rows.to(device=logits.device, dtype=torch.bool)
    if not smooth:
        per_row = F.cross_entropy(logits.float(), true_cell, reduction="none")
        return masked_row_mean(per_row, counted) if reduction == "mean" else (per_row, counted)
    cent = torch.as_tensor(cell_centroids, dtype=torch.float64 if target_form == "paper" else torch.float32,
                           device=logits.device)
    if cent.shape != (logits.shape[1], 2):
        raise ValueError(f"cell_centroids must be [C, 2] = [{logits.shape[1]}, 2], got {tuple(cent.shape)}")
    with torch.no_grad():
        y = haversine_smoothed_targets(lat.to(cent), lon.to(cent), true_cell, cent, tau_km, target_form)
    scores = logits.double() if target_form == "paper" else logits.float()
    per_row = soft_cross_entropy(scores, y, normalize_targets=target_form == "softmax", reduction="none")
    counted = counted & (y.sum(dim=1) > 0)
    return masked_row_mean(per_row, counted) if reduction == "mean" else (per_row, counted)


def aux_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor | None = None,
                      reduction: str = "mean") -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of an auxiliary head ``logits`` [B, K] against ``labels`` [B] (-1 = unknown),
    averaged over the known labels of the counted ``rows`` [B] bool; 0 (with a zero gradient that
    still reaches every head parameter) when none is known. No host synchronisation.
    ``reduction="none"``: ``(per-row losses [B], counted [B] bool)``."""
    y = labels.long().to(logits.device)
    known = y >= 0
    if rows is not None:
        known = known & rows.to(device=logits.device, dtype=torch.bool)
    per_row = F.cross_entropy(logits.float(), y.clamp_min(0), reduction="none")
    return masked_row_mean(per_row, known) if reduction == "mean" else (per_row, known)


def multitask_loss(outputs: dict[str, torch.Tensor], lat: torch.Tensor, lon: torch.Tensor,
                   labels: dict[str, torch.Tensor], cell_centroids: torch.Tensor | np.ndarray, *,
                   tau_km: float = 75.0, smooth: bool = True, weights: dict[str, float] | None = None,
                   target_form: str = "softmax", rows: torch.Tensor | None = None,
                   mean: Any = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the geocell loss and auxiliary cross-entropies (PIGEON's multi-task setup).

    Args:
        outputs: :class:`GeoModel` output (``geocell`` and auxiliary logits).
        labels: ``{"geocell": [B] cell index, <aux task>: [B] class index}``; an auxiliary label
            of -1 means unknown and is ignored (a batch with none known adds 0).
        weights: ``{task: weight}``; missing tasks weigh 1.0.
        rows: [B] bool rows that count in every term (None = all).
        mean: ``(per_row [B], counted [B]) -> scalar`` reduction of every term (default
            :func:`masked_row_mean`; the Trainer's loss passes the cross-rank exact mean).

    Returns:
        (total loss, ``{task: unweighted loss}``).
    """
    weights = weights or {}
    mean = mean or masked_row_mean
    parts = {GEOCELL: mean(*geocell_loss(outputs[GEOCELL], lat, lon, labels[GEOCELL], cell_centroids, tau_km=tau_km,
                                         smooth=smooth, target_form=target_form, rows=rows, reduction="none"))}
    for task, logits in outputs.items():
        if task in (GEOCELL, "embedding") or task not in labels:
            continue
        parts[task] = mean(*aux_cross_entropy(logits, labels[task], rows, reduction="none"))
    total = sum(float(weights.get(t, 1.0)) * v for t, v in parts.items())
    return total, parts
