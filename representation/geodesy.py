"""Great-circle distance on the sphere, the one torch implementation of the project.

``geoloc.geo.distance`` re-exports :data:`EARTH_RADIUS_KM` and :func:`haversine_km_torch` from
here, so the library and the application measure kilometres the same way, and
``representation`` never imports ``geoloc``. Torch is imported lazily, so importing this module
(and ``geoloc.geo``) stays light.

Coordinates are in **degrees** (latitude in [-90, 90], longitude in [-180, 180]); distances
in **km** on a sphere of radius :data:`EARTH_RADIUS_KM` (the IUGG mean radius R1 of WGS84).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

EARTH_RADIUS_KM: float = 6371.0088
"""Mean Earth radius in km (IUGG R1 of WGS84)."""


def haversine_km_torch(
    lat1: torch.Tensor, lon1: torch.Tensor, lat2: torch.Tensor, lon2: torch.Tensor, eps: float = 1e-30
) -> torch.Tensor:
    """Differentiable haversine distance in km for tensors in degrees (broadcasting).

    Computes ``2 R atan2(sqrt(a), sqrt(a'))`` where ``a`` is the haversine term of the two points
    and ``a' = 1 - a`` is computed directly as the haversine term of the first point and the
    antipode of the second, ``sin^2((phi1 + phi2)/2) + cos(phi1) cos(phi2) cos^2(dlambda/2)``. Both
    are accurate where small, so the result has full relative precision from 0 km to the
    antipodes even in float32 (a float32 ``1 - a`` would be off by up to ~3 km there). ``a`` and
    ``a'`` are floored at ``eps`` before the square roots: the gradient is finite everywhere, and
    0 (a valid subgradient) at zero distance and at antipodes, where the distance has a kink.
    Half-precision inputs are computed in float32; the result has the promoted floating dtype of
    the inputs (at least float32). No validation (no host sync): NaN in, NaN out.
    """
    import torch  # lazy: keeps ``import geoloc.geo`` light

    dtype = torch.promote_types(
        torch.promote_types(lat1.dtype, lon1.dtype), torch.promote_types(lat2.dtype, lon2.dtype)
    )
    if not dtype.is_floating_point or torch.finfo(dtype).bits < 32:
        dtype = torch.float32
    deg = math.pi / 180.0
    p1, l1, p2, l2 = (t.to(dtype) * deg for t in (lat1, lon1, lat2, lon2))
    cc = torch.cos(p1) * torch.cos(p2)
    half_dlon = (l2 - l1) / 2
    a = torch.sin((p2 - p1) / 2) ** 2 + cc * torch.sin(half_dlon) ** 2
    a_anti = torch.sin((p2 + p1) / 2) ** 2 + cc * torch.cos(half_dlon) ** 2
    return 2.0 * EARTH_RADIUS_KM * torch.atan2(torch.sqrt(a.clamp_min(eps)), torch.sqrt(a_anti.clamp_min(eps)))


def pairwise_haversine_torch(lat_q: torch.Tensor, lon_q: torch.Tensor, lat_k: torch.Tensor,
                             lon_k: torch.Tensor) -> torch.Tensor:
    """Distance matrix [N, M] in km between query points (lat_q, lon_q [N], degrees) and key
    points (lat_k, lon_k [M], degrees)."""
    return haversine_km_torch(lat_q.unsqueeze(1), lon_q.unsqueeze(1), lat_k.unsqueeze(0), lon_k.unsqueeze(0))
