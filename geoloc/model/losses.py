"""Fine-tuning losses: PIGEON's haversine-smoothed geocell loss and the multi-task sum."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from geoloc.model.heads import GEOCELL
from representation.functional.soft_ce import soft_cross_entropy
from representation.targets.geo import pigeon_geocell_targets


def haversine_smoothed_targets(lat: torch.Tensor, lon: torch.Tensor, true_cell: torch.Tensor,
                               cell_centroids: torch.Tensor, tau_km: float) -> torch.Tensor:
    """PIGEON paper-form targets [B, C]: ``y_ic = exp(-(d_ic - d_i,true) / tau)``.

    ``d_ic`` is the haversine distance (km) from sample i to cell c's centroid and
    ``d_i,true`` the distance to the centroid of the sample's TRUE cell (not the nearest one,
    as the reference code has it). Un-normalised; non-finite values become 0.
    """
    return pigeon_geocell_targets(lat, lon, cell_centroids[:, 0], cell_centroids[:, 1], true_cell, tau_km)


def geocell_loss(logits: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor, true_cell: torch.Tensor,
                 cell_centroids: torch.Tensor | np.ndarray, tau_km: float = 75.0, smooth: bool = True,
                 normalize_targets: bool = False) -> torch.Tensor:
    """Geocell classification loss (mean over the batch).

    Args:
        logits: [B, C] geocell logits.
        lat, lon: [B] true locations in degrees.
        true_cell: [B] index of each sample's geocell in ``[0, C)``.
        cell_centroids: [C, 2] (lat, lon) cell centroids in degrees.
        tau_km: smoothing constant in km (PIGEON 75, PIGEOTTO 65).
        smooth: True -> ``-sum_c y_c log p_c`` with the un-normalised haversine targets
            (PIGEON); False -> one-hot cross-entropy on ``true_cell`` (ablation).
        normalize_targets: divide the soft targets by their sum per row (a distribution); keeps
            the loss bounded when cells are large. False is the paper's form.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be [B, C], got {tuple(logits.shape)}")
    true_cell = true_cell.long().to(logits.device)
    if not smooth:
        return F.cross_entropy(logits, true_cell)
    cent = torch.as_tensor(cell_centroids, dtype=torch.float32, device=logits.device)
    if cent.shape != (logits.shape[1], 2):
        raise ValueError(f"cell_centroids must be [C, 2] = [{logits.shape[1]}, 2], got {tuple(cent.shape)}")
    with torch.no_grad():
        y = haversine_smoothed_targets(lat.to(cent), lon.to(cent), true_cell, cent, tau_km)
    return soft_cross_entropy(logits.float(), y, normalize_targets=normalize_targets)


def multitask_loss(outputs: dict[str, torch.Tensor], lat: torch.Tensor, lon: torch.Tensor,
                   labels: dict[str, torch.Tensor], cell_centroids: torch.Tensor | np.ndarray, *,
                   tau_km: float = 75.0, smooth: bool = True, weights: dict[str, float] | None = None,
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the geocell loss and auxiliary cross-entropies (PIGEON's multi-task setup).

    Args:
        outputs: :class:`GeoModel` output (``geocell`` and auxiliary logits).
        labels: ``{"geocell": [B] cell index, <aux task>: [B] class index}``; an auxiliary label
            of -1 means unknown and is ignored (a batch with none known adds 0).
        weights: ``{task: weight}``; missing tasks weigh 1.0.

    Returns:
        (total loss, ``{task: unweighted loss}``).
    """
    weights = weights or {}
    parts = {GEOCELL: geocell_loss(outputs[GEOCELL], lat, lon, labels[GEOCELL], cell_centroids,
                                   tau_km=tau_km, smooth=smooth)}
    for task, logits in outputs.items():
        if task in (GEOCELL, "embedding") or task not in labels:
            continue
        y = labels[task].long().to(logits.device)
        known = y >= 0
        parts[task] = (F.cross_entropy(logits[known], y[known]) if bool(known.any())
                       else logits.sum() * 0.0)
    total = sum(float(weights.get(t, 1.0)) * v for t, v in parts.items())
    return total, parts
