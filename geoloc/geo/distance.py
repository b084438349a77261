"""Great-circle (haversine) distances in kilometres.

All functions take coordinates in **degrees** (latitude in [-90, 90], longitude in
[-180, 180]) and return kilometres on a sphere of radius :data:`EARTH_RADIUS_KM`.

The mean Earth radius 6371.0088 km is the IUGG mean radius R1 = (2a + b) / 3 of the
WGS84 ellipsoid. On the sphere, haversine differs from the WGS84 geodesic by less than
0.5 % for typical (random) pairs and by at most 0.56 % in the worst case (short north-south
arcs at the equator, where the meridian radius of curvature is 6335 km). (PIGEON's reference code uses the equatorial radius 6378.137 km, which
overstates every distance by 0.11 %.)
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from geoloc.errors import CoordinateError
from geoloc.geo.validate import check_coordinates, describe_rows, invalid_coordinate_mask

if TYPE_CHECKING:  # pragma: no cover
    import torch

EARTH_RADIUS_KM: float = 6371.0088
"""Mean Earth radius in km (IUGG R1 of WGS84)."""


def haversine_km(lat1, lon1, lat2, lon2):
    """Haversine distance in km between points given in degrees.

    Scalars or array-likes that broadcast together. Returns a Python float for scalar
    input, else a float64 ``np.ndarray`` of the broadcast shape. Uses
    ``2 R atan2(sqrt(a), sqrt(a'))`` with ``a' = 1 - a`` computed directly (see
    :func:`haversine_km_torch`): full precision from 0 km to the antipodes.
    NaN, infinite or out-of-range coordinates raise :class:`~geoloc.errors.CoordinateError`
    naming the (flattened, broadcast) entries.
    """
    scalar = all(np.ndim(v) == 0 for v in (lat1, lon1, lat2, lon2))
    la1, lo1, la2, lo2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lat1, lon1, lat2, lon2))
    )
    for which, (la, lo) in (("first", (la1, lo1)), ("second", (la2, lo2))):
        bad = invalid_coordinate_mask(la, lo)
        if bad.any():
            rows = np.flatnonzero(bad.ravel())
            raise CoordinateError(
                f"haversine_km: {rows.size} invalid {which} point(s) (NaN, infinite, or outside "
                f"lat [-90, 90] / lon [-180, 180]) at {describe_rows(rows)}"
            )
    p1, l1, p2, l2 = (np.radians(v) for v in (la1, lo1, la2, lo2))
    cc = np.cos(p1) * np.cos(p2)
    half_dlon = (l2 - l1) / 2.0
    a = np.sin((p2 - p1) / 2.0) ** 2 + cc * np.sin(half_dlon) ** 2
    a_anti = np.sin((p2 + p1) / 2.0) ** 2 + cc * np.cos(half_dlon) ** 2  # = 1 - a, accurate near 0
    d = 2.0 * EARTH_RADIUS_KM * np.arctan2(np.sqrt(a), np.sqrt(a_anti))
    return float(d) if scalar else d


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
    return (
        2.0 * EARTH_RADIUS_KM * torch.atan2(torch.sqrt(a.clamp_min(eps)), torch.sqrt(a_anti.clamp_min(eps)))
    )


def pairwise_haversine_km(
    lat_a,
    lon_a,
    lat_b,
    lon_b,
    *,
    max_bytes: int = 256 * 2**20,
    dtype=np.float32,
    workers: int | None = None,
) -> np.ndarray:
    """Pairwise distance matrix [N, M] in km between point sets A (N) and B (M), degrees.

    The result (``N x M`` of ``dtype``, float32 or float64) is allocated once and filled in
    cache-sized tiles; the temporaries of all workers together stay under ``max_bytes``
    (:data:`_TEMP_BYTES_PER_ELEMENT` bytes per tile element, at least one element per worker).

    Speed and accuracy: ``sin(d/2)`` of the latitude and longitude differences is expanded as a
    rank-2 product, ``sin((y - x)/2) = sin(y/2) cos(x/2) - cos(y/2) sin(x/2)``, so the matrix part
    is multiplications only (float64; absolute error ~1e-16, i.e. ~1e-9 km). The one
    transcendental per element, ``arcsin``, runs in the output dtype on ``sqrt(min(a, 1 - a))``
    (well-conditioned; the antipodal half is mirrored), so float32 output has float32 relative
    accuracy everywhere, antipodes included. ``workers`` threads (default: CPU count, at most 8)
    fill disjoint row bands; numpy releases the GIL in these loops.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    lat_a, lon_a = check_coordinates(lat_a, lon_a, what="pairwise_haversine_km (set A)")
    lat_b, lon_b = check_coordinates(lat_b, lon_b, what="pairwise_haversine_km (set B)")
    pa, la, pb, lb = (np.radians(v) for v in (lat_a, lon_a, lat_b, lon_b))
    n, m = pa.shape[0], pb.shape[0]
    out = np.empty((n, m), dtype=dtype)
    if n == 0 or m == 0:
        return out
    workers = max(1, min(workers or os.cpu_count() or 1, 8, n))
    # Half-angle sines/cosines of latitude and longitude, [N] and [M]; cos(lat) for the lon term.
    half_a = (np.sin(pa / 2), np.cos(pa / 2), np.sin(la / 2), np.cos(la / 2), np.cos(pa))
    half_b = (np.sin(pb / 2), np.cos(pb / 2), np.sin(lb / 2), np.cos(lb / 2), np.cos(pb))
    tile = max(1, min(TILE_ELEMENTS, int(max_bytes // (_TEMP_BYTES_PER_ELEMENT * workers))))
    cols = min(m, tile)
    rows = max(1, min(n, tile // cols))
    bands = np.array_split(np.arange(0, n, rows), workers)
    jobs = [(int(b[0]), int(min(n, b[-1] + rows))) for b in bands if b.size]

    def fill(band: tuple[int, int]) -> None:
        buf = _TileBuffers(rows, cols, dtype)
        for r0 in range(band[0], band[1], rows):
            r1 = min(band[1], r0 + rows)
            for c0 in range(0, m, cols):
                c1 = min(m, c0 + cols)
                _distance_tile(out[r0:r1, c0:c1], buf, half_a, half_b, r0, r1, c0, c1)

    if len(jobs) == 1:
        fill(jobs[0])
    else:
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            list(pool.map(fill, jobs))
    return out


TILE_ELEMENTS = 1 << 16
"""Elements per tile of :func:`pairwise_haversine_km` (cache-sized: ~1.7 MiB of temporaries)."""

_TEMP_BYTES_PER_ELEMENT = 3 * 8 + 8
"""Per tile element: three float64 work arrays plus one sign array of up to 8 bytes."""


class _TileBuffers:
    """Work arrays for one worker: three float64 and one sign array of the output dtype."""

    def __init__(self, rows: int, cols: int, dtype: np.dtype) -> None:
        self.t, self.u, self.v = (np.empty((rows, cols)) for _ in range(3))
        self.sign = np.empty((rows, cols), dtype=dtype)

    def view(self, shape: tuple[int, int]):
        r, c = shape
        return self.t[:r, :c], self.u[:r, :c], self.v[:r, :c], self.sign[:r, :c]


def _distance_tile(block, buf: _TileBuffers, half_a, half_b, r0, r1, c0, c1) -> None:
    """Write distances (km) of A[r0:r1] x B[c0:c1] into ``block`` (a view of the output)."""
    t, u, v, sign = buf.view(block.shape)
    sa_p, ca_p, sa_l, ca_l, cos_a = (x[r0:r1, None] for x in half_a)
    sb_p, cb_p, sb_l, cb_l, cos_b = (x[None, c0:c1] for x in half_b)
    # t = sin(dphi / 2) ** 2
    np.multiply(sb_p, ca_p, out=t)
    np.multiply(cb_p, sa_p, out=v)
    t -= v
    np.square(t, out=t)
    # u = cos(phi_a) cos(phi_b) sin(dlambda / 2) ** 2 ; t = a
    np.multiply(sb_l, ca_l, out=u)
    np.multiply(cb_l, sa_l, out=v)
    u -= v
    np.square(u, out=u)
    u *= cos_a
    u *= cos_b
    t += u
    np.clip(t, 0.0, 1.0, out=t)
    # c = 2 asin(sqrt(a)); for a > 1/2 use pi/2 - asin(sqrt(1 - a)) (mirror through pi/4).
    np.subtract(t, 0.5, out=v)
    np.subtract(1.0, t, out=u)
    np.minimum(t, u, out=t)
    np.sqrt(t, out=t)
    block[...] = t
    sign[...] = v
    np.arcsin(block, out=block)
    block -= math.pi / 4
    np.copysign(block, sign, out=block)
    block += math.pi / 4
    block *= 2.0 * EARTH_RADIUS_KM
