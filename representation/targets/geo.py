"""Geographic soft targets in kilometres (haversine on the mean-radius sphere).

Distances come from :func:`geoloc.geo.distance.haversine_km_torch` (earth radius
6371.0088 km); coordinates are in **degrees**, ``tau_km`` in **km**.

* :func:`haversine_kernel_targets` — in-batch soft targets between query and key
  locations (Dialog2Flow's soft contrastive with a haversine kernel instead of a label
  embedding kernel): ``t_ij = softmax_j(-d_ij / tau)``.
* :func:`pigeon_geocell_targets` — PIGEON's haversine label smoothing over geocell
  centroids in the **paper** form ``y_ic = exp(-(d_ic - d_i,true) / tau)`` where
  ``d_i,true`` is the distance to the centroid of the sample's TRUE cell (the reference
  code subtracts the distance to the nearest centroid instead; see PIGEON.md §1.2).
"""

from __future__ import annotations

import torch

from geoloc.geo.distance import haversine_km_torch


def _check_tau(tau_km: float) -> None:
    if not tau_km > 0:
        raise ValueError(f"tau_km must be > 0 km, got {tau_km}")


def haversine_kernel_targets(lat_q: torch.Tensor, lon_q: torch.Tensor, lat_k: torch.Tensor,
                             lon_k: torch.Tensor, tau_km: float, *, normalize: bool = True) -> torch.Tensor:
    """In-batch geographic soft targets [N, M].

    Args:
        lat_q, lon_q: [N] query locations in degrees.
        lat_k, lon_k: [M] key locations in degrees.
        tau_km: kernel length scale in km (PIGEON uses 75 for cell smoothing).
        normalize: True -> each row is ``softmax_j(-d_ij / tau)`` (sums to 1); False ->
            ``exp(-(d_ij - min_j d_ij) / tau)`` (max 1 per row; same row-normalisation,
            so :func:`soft_cross_entropy` with ``normalize_targets=True`` gives the same loss).

    The row minimum is subtracted before ``exp`` so no row underflows to all zeros in
    float32. Rows with a non-finite coordinate (NaN / inf) become all 0, so
    :func:`soft_cross_entropy` excludes them from the mean; a non-finite key column gets 0.
    """
    _check_tau(tau_km)
    if lat_q.shape != lon_q.shape or lat_k.shape != lon_k.shape or lat_q.dim() != 1 or lat_k.dim() != 1:
        raise ValueError("lat_q/lon_q must be [N] and lat_k/lon_k [M]")
    d = haversine_km_torch(lat_q.unsqueeze(1), lon_q.unsqueeze(1), lat_k.unsqueeze(0), lon_k.unsqueeze(0))
    d = torch.where(torch.isfinite(d), d, torch.full_like(d, float("inf")))
    d_min = d.min(dim=1, keepdim=True).values
    w = torch.exp(-(d - d_min) / tau_km)
    w = torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)
    bad_rows = ~(torch.isfinite(lat_q) & torch.isfinite(lon_q))
    w = w.masked_fill(bad_rows.unsqueeze(1), 0.0)
    if normalize:
        w = w / w.sum(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    return w


def pigeon_geocell_targets(lat: torch.Tensor, lon: torch.Tensor, cell_lat: torch.Tensor,
                           cell_lon: torch.Tensor, true_cell: torch.Tensor, tau_km: float = 75.0
                           ) -> torch.Tensor:
    """PIGEON haversine-smoothed geocell targets [N, C] (paper form, un-normalised).

    ``y_ic = exp(-(d_ic - d_i,true) / tau)`` with ``d_ic`` the haversine distance (km)
    from sample i to the centroid of cell c and ``d_i,true = d_i,true_cell[i]``. The true
    cell gets exactly 1; cells whose centroid is nearer than the true cell's get values
    above 1 (as in the paper's formula). NaN / inf entries (e.g. NaN coordinates, or
    overflow for tiny ``tau``) are set to 0, as in the reference code.

    Use with ``soft_cross_entropy(logits, y, normalize_targets=False)`` to reproduce
    PIGEON's ``-sum_c y_c log p_c``.

    Args:
        lat, lon: [N] sample locations in degrees.
        cell_lat, cell_lon: [C] cell centroid locations in degrees.
        true_cell: [N] integer index in ``[0, C)`` of each sample's true cell.
        tau_km: smoothing constant in km (PIGEON 75, PIGEOTTO 65).
    """
    _check_tau(tau_km)
    if lat.shape != lon.shape or lat.dim() != 1 or true_cell.shape != lat.shape:
        raise ValueError(f"lat, lon, true_cell must all be [N]; got {tuple(lat.shape)}, {tuple(lon.shape)}, "
                         f"{tuple(true_cell.shape)}")
    if cell_lat.shape != cell_lon.shape or cell_lat.dim() != 1:
        raise ValueError("cell_lat and cell_lon must be [C]")
    n_cells = cell_lat.shape[0]
    true_cell = true_cell.long()
    if true_cell.numel() and (int(true_cell.min()) < 0 or int(true_cell.max()) >= n_cells):
        bad = torch.nonzero((true_cell < 0) | (true_cell >= n_cells)).flatten().tolist()
        raise ValueError(f"true_cell out of range [0, {n_cells}) at rows {bad[:10]}")
    d = haversine_km_torch(lat.unsqueeze(1), lon.unsqueeze(1), cell_lat.unsqueeze(0), cell_lon.unsqueeze(0))
    d_true = d.gather(1, true_cell.unsqueeze(1))
    y = torch.exp(-(d - d_true) / tau_km)
    return torch.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
