"""Great-circle (haversine) distances in kilometres.

All functions take coordinates in **degrees** (latitude in [-90, 90], longitude in
[-180, 180]) and return kilometres on a sphere of radius :data:`EARTH_RADIUS_KM`.

The mean Earth radius 6371.0088 km is the IUGG mean radius R1 = (2a + b) / 3 of the
WGS84 ellipsoid. On the sphere, haversine differs from the WGS84 geodesic by at most
about 0.5 %. (PIGEON's reference code uses the equatorial radius 6378.137 km, which
overstates every distance by 0.11 %.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

EARTH_RADIUS_KM: float = 6371.0088
"""Mean Earth radius in km (IUGG R1 of WGS84)."""


def haversine_km(lat1, lon1, lat2, lon2):
    """Haversine distance in km between points given in degrees.

    Scalars or array-likes that broadcast together. Returns a Python float for scalar
    input, else a float64 ``np.ndarray`` of the broadcast shape.
    """
    scalar = all(np.ndim(v) == 0 for v in (lat1, lon1, lat2, lon2))
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    d = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if scalar else d


def haversine_km_torch(
    lat1: torch.Tensor, lon1: torch.Tensor, lat2: torch.Tensor, lon2: torch.Tensor, eps: float = 1e-12
) -> torch.Tensor:
    """Differentiable haversine distance in km for tensors in degrees (broadcasting).

    Uses ``atan2(sqrt(a), sqrt(1 - a))`` with ``eps`` inside the square roots so the
    gradient stays finite at zero distance and at antipodes.
    """
    import torch  # lazy: keeps ``import geoloc.geo`` light

    deg = math.pi / 180.0
    p1, l1, p2, l2 = lat1 * deg, lon1 * deg, lat2 * deg, lon2 * deg
    a = torch.sin((p2 - p1) / 2) ** 2 + torch.cos(p1) * torch.cos(p2) * torch.sin((l2 - l1) / 2) ** 2
    a = a.clamp(0.0, 1.0)
    return 2.0 * EARTH_RADIUS_KM * torch.atan2(torch.sqrt(a + eps), torch.sqrt(1.0 - a + eps))


def pairwise_haversine_km(
    lat_a,
    lon_a,
    lat_b,
    lon_b,
    *,
    max_bytes: int = 256 * 2**20,
    dtype=np.float32,
) -> np.ndarray:
    """Pairwise distance matrix [N, M] in km between point sets A (N) and B (M), degrees.

    Rows are processed in chunks so that the temporaries stay under ``max_bytes``
    (about five float64 arrays of ``chunk x M`` are alive at once); the result itself
    (``N x M`` of ``dtype``) is allocated once.
    """
    pa, la = np.radians(np.asarray(lat_a, np.float64)), np.radians(np.asarray(lon_a, np.float64))
    pb, lb = np.radians(np.asarray(lat_b, np.float64)), np.radians(np.asarray(lon_b, np.float64))
    n, m = pa.shape[0], pb.shape[0]
    out = np.empty((n, m), dtype=dtype)
    if n == 0 or m == 0:
        return out
    cos_b = np.cos(pb)[None, :]
    chunk = max(1, int(max_bytes // (5 * 8 * max(m, 1))))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        dphi = np.sin((pb[None, :] - pa[s:e, None]) * 0.5)
        dlam = np.sin((lb[None, :] - la[s:e, None]) * 0.5)
        a = dphi * dphi + np.cos(pa[s:e, None]) * cos_b * (dlam * dlam)
        np.clip(a, 0.0, 1.0, out=a)
        np.sqrt(a, out=a)
        np.arcsin(a, out=a)
        out[s:e] = a * (2.0 * EARTH_RADIUS_KM)
    return out
