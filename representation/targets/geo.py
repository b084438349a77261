"""Geographic soft targets in kilometres (haversine on the mean-radius sphere).

Distances come from :func:`representation.geodesy.haversine_km_torch` (the project's one
implementation, earth radius 6371.0088 km; ``geoloc.geo.distance`` re-exports it); coordinates
are in **degrees**, distances and ``tau_km`` in **km**. Every builder also accepts a distance
matrix, so any other metric (road distance, a different ellipsoid) plugs in unchanged.

* :func:`distance_kernel_targets` — soft targets ``t_ij = softmax_j(-d_ij / tau)`` from a
  distance matrix [N, M] in km; :func:`haversine_kernel_targets` builds that matrix from
  coordinates (Dialog2Flow's soft contrastive with a haversine kernel instead of a label
  embedding kernel).
* :func:`geocell_log_targets` / :func:`pigeon_geocell_targets` — PIGEON's haversine label smoothing
  over geocell centroids, from a distance matrix [N, C] in km, in three forms: ``softmax`` (the
  normalised targets, the default), ``nearest`` (the reference code) and ``paper`` (the paper's
  equation, unbounded); see PIGEON.md §1.2.
"""

from __future__ import annotations

import math

import torch

from representation.geodesy import pairwise_haversine_torch


def _check_tau(tau_km: float) -> None:
    if not tau_km > 0:
        raise ValueError(f"tau_km must be > 0 km, got {tau_km}")


def distance_kernel_targets(d_km: torch.Tensor, tau_km: float, *, normalize: bool = True,
                            valid_rows: torch.Tensor | None = None) -> torch.Tensor:
    """Soft targets [N, M] from a distance matrix ``d_km`` [N, M] (km).

    Args:
        d_km: distances in km; NaN / inf entries get target 0.
        tau_km: kernel length scale in km (PIGEON uses 75 for cell smoothing).
        normalize: True -> each row is ``softmax_j(-d_ij / tau)`` (sums to 1); False ->
            ``exp(-(d_ij - min_j d_ij) / tau)`` (max 1 per row; same row-normalisation, so
            :func:`soft_cross_entropy` with ``normalize_targets=True`` gives the same loss).
        valid_rows: optional [N] bool; False rows become all 0.

    The row minimum is subtracted before ``exp`` (log-space kernel), so no row underflows to
    all zeros in float32 or bfloat16. Rows without a finite distance become all 0, so
    :func:`soft_cross_entropy` excludes them from the mean.
    """
    _check_tau(tau_km)
    if d_km.dim() != 2:
        raise ValueError(f"d_km must be [N, M], got {tuple(d_km.shape)}")
    d = torch.where(torch.isfinite(d_km), d_km, torch.full_like(d_km, float("inf")))
    d_min = d.min(dim=1, keepdim=True).values
    w = torch.exp(-(d - d_min) / tau_km)
    w = torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)
    if valid_rows is not None:
        w = w.masked_fill(~valid_rows.to(torch.bool).unsqueeze(1), 0.0)
    if normalize:
        w = w / w.sum(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    return w


def haversine_kernel_targets(lat_q: torch.Tensor, lon_q: torch.Tensor, lat_k: torch.Tensor,
                             lon_k: torch.Tensor, tau_km: float, *, normalize: bool = True) -> torch.Tensor:
    """In-batch geographic soft targets [N, M] (:func:`distance_kernel_targets` of the haversine
    distance matrix).

    Args:
        lat_q, lon_q: [N] query locations in degrees.
        lat_k, lon_k: [M] key locations in degrees.
        tau_km: kernel length scale in km.
        normalize: see :func:`distance_kernel_targets`.

    Rows with a non-finite coordinate (NaN / inf) become all 0; a non-finite key column gets 0.
    Under DDP pass gathered coordinates to build the global matrix (``docs/representation.md``).
    """
    _check_tau(tau_km)
    if lat_q.shape != lon_q.shape or lat_k.shape != lon_k.shape or lat_q.dim() != 1 or lat_k.dim() != 1:
        raise ValueError("lat_q/lon_q must be [N] and lat_k/lon_k [M]")
    d = pairwise_haversine_torch(lat_q, lon_q, lat_k, lon_k)
    return distance_kernel_targets(d, tau_km, normalize=normalize,
                                   valid_rows=torch.isfinite(lat_q) & torch.isfinite(lon_q))


GEOCELL_TARGET_FORMS = ("softmax", "nearest", "paper")
"""Forms of PIGEON's haversine label smoothing (see :func:`geocell_log_targets`)."""


def geocell_log_targets(d_km: torch.Tensor, true_cell: torch.Tensor | None = None, tau_km: float = 75.0,
                        form: str = "softmax") -> torch.Tensor:
    """Log of PIGEON's haversine-smoothed geocell targets [N, C], computed in log space.

    Args:
        d_km: [N, C] distance (km) from each sample to each cell's centroid; NaN / inf entries
            (unknown locations, missing cells) get no weight (log-target -inf).
        true_cell: [N] index of each sample's true cell (needed by ``form="paper"`` only).
        tau_km: smoothing constant in km (PIGEON 75, PIGEOTTO 65).
        form:
            ``"softmax"`` (default): ``log softmax_c(-d_c / tau)``. This is what both the paper's and the
                reference code's targets become once normalised, whichever distance they subtract, so it
                is the bounded, batch-independent form: every row sums to 1 and the nearest cell gets the
                largest weight.
            ``"nearest"``: the reference code's form ``-(d_c - min_j d_j) / tau``: un-normalised, y <= 1
                (the nearest cell gets exactly 1).
            ``"paper"``: the paper's equation ``-(d_c - d_true) / tau``: un-normalised and unbounded
                (y > 1 wherever a centroid is nearer than the true cell's; y reaches exp(20,000 / tau)
                for antipodal cells, ~1e116 at tau = 75 km, which overflows float32). Kept for
                ablations; the log values are exact, ``exp`` of them is finite in float64 for
                tau >= 29 km.

    Returns:
        [N, C] log-targets in ``float32`` (``float64`` when ``d_km`` is float64 or the form is
        ``"paper"``); rows whose sample has no
        finite distance (or, for ``"paper"``, no finite distance to its true cell) are all -inf.
    """
    _check_tau(tau_km)
    if form not in GEOCELL_TARGET_FORMS:
        raise ValueError(f"form must be one of {GEOCELL_TARGET_FORMS}, got {form!r}")
    if d_km.dim() != 2:
        raise ValueError(f"d_km must be [N, C], got {tuple(d_km.shape)}")
    d = d_km.to(torch.float64 if form == "paper" else torch.promote_types(d_km.dtype, torch.float32))
    neg_inf = torch.tensor(float("-inf"), dtype=d.dtype, device=d.device)
    z = torch.where(torch.isfinite(d), -d / tau_km, neg_inf)
    row_ok = torch.isfinite(z).any(dim=1, keepdim=True)
    if form == "paper":
        if true_cell is None or true_cell.shape != d.shape[:1]:
            raise ValueError("form='paper' needs true_cell [N]")
        true_cell = true_cell.long().to(d.device)
        if true_cell.numel() and bool(((true_cell < 0) | (true_cell >= d.shape[1])).any()):
            bad = torch.nonzero((true_cell < 0) | (true_cell >= d.shape[1])).flatten().tolist()
            raise ValueError(f"true_cell out of range [0, {d.shape[1]}) at rows {bad[:10]}")
        ref = z.gather(1, true_cell.unsqueeze(1))
        row_ok = row_ok & torch.isfinite(ref)
    else:
        ref = torch.where(row_ok, z, torch.zeros_like(z)).max(dim=1, keepdim=True).values
        if form == "softmax":
            shifted = torch.where(row_ok, z - ref, neg_inf)
            ref = ref + torch.logsumexp(shifted, dim=1, keepdim=True)
    out = z - torch.where(row_ok, ref, torch.zeros_like(ref))
    return torch.where(row_ok, out, neg_inf)


def pigeon_geocell_targets(d_km: torch.Tensor, true_cell: torch.Tensor | None = None, tau_km: float = 75.0,
                           form: str = "softmax") -> torch.Tensor:
    """PIGEON's haversine-smoothed geocell targets [N, C]: ``exp`` of :func:`geocell_log_targets`.

    ``"softmax"`` rows sum to 1 (use ``soft_cross_entropy(..., normalize_targets=True)``); ``"nearest"``
    and ``"paper"`` are PIGEON's un-normalised weights for ``-sum_c y_c log p_c``
    (``normalize_targets=False``). ``"paper"`` is returned in float64 (see the bound above); its
    values above the dtype's maximum are clamped to it rather than turned into 0.
    """
    log_y = geocell_log_targets(d_km, true_cell, tau_km, form)
    if form == "paper":
        log_y = log_y.double()
        log_y = log_y.clamp_max(math.log(torch.finfo(log_y.dtype).max))
    return torch.exp(log_y)
