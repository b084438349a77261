"""Haversine distances: against geopy's WGS84 geodesic, properties, torch gradients, pairwise."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from geoloc.errors import CoordinateError
from geoloc.geo.distance import (
    _TEMP_BYTES_PER_ELEMENT,
    EARTH_RADIUS_KM,
    haversine_km,
    haversine_km_torch,
    pairwise_haversine_km,
)

lats = st.floats(-89.9, 89.9)
lons = st.floats(-180.0, 180.0)


def test_random_pairs_against_geodesic_mostly_within_half_percent():
    rng = np.random.default_rng(10)
    n = 3000  # uniform on the sphere
    lat1, lat2 = (np.degrees(np.arcsin(rng.uniform(-1, 1, n))) for _ in range(2))
    lon1, lon2 = (rng.uniform(-180, 180, n) for _ in range(2))
    h = haversine_km(lat1, lon1, lat2, lon2)
    g = np.array([geodesic((a, b), (c, d)).km for a, b, c, d in zip(lat1, lon1, lat2, lon2, strict=True)])
    rel = np.abs(h - g) / g
    # No sphere is within 0.5 % of WGS84 everywhere (local radii span 6335..6400 km): with the mean
    # radius about 0.3 % of random pairs (north-south arcs across the tropics) reach 0.50..0.56 %.
    assert (rel <= 0.005).mean() >= 0.99
    assert rel.max() <= 0.0057
    assert np.median(rel) < 0.002


@settings(max_examples=300, deadline=None)
@given(lats, lons, lats, lons)
def test_any_pair_against_geodesic_within_sphere_bound(lat1, lon1, lat2, lon2):
    # Worst case of a sphere of mean radius: short north-south arcs at the equator, where the
    # ellipsoid's meridian radius is a(1 - e^2) = 6335.4 km (sphere 0.56 % long).
    g = geodesic((lat1, lon1), (lat2, lon2)).km
    h = haversine_km(lat1, lon1, lat2, lon2)
    if g < 1e-3:
        assert h < 1e-3
    elif g < 19_000:  # near-antipodal geodesics are ill-conditioned on the ellipsoid
        assert abs(h - g) <= 0.0057 * g


@settings(max_examples=200, deadline=None)
@given(lats, lons, lats, lons)
def test_symmetry_and_bounds(lat1, lon1, lat2, lon2):
    d12 = haversine_km(lat1, lon1, lat2, lon2)
    assert d12 == pytest.approx(haversine_km(lat2, lon2, lat1, lon1), abs=1e-9)
    assert 0.0 <= d12 <= math.pi * EARTH_RADIUS_KM + 1e-9


def test_zero_antipodes_and_known_values():
    assert haversine_km(12.3, 45.6, 12.3, 45.6) == 0.0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(37.5, -122.0, -37.5, 58.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    # One degree of latitude = pi R / 180.
    assert haversine_km(10, 20, 11, 20) == pytest.approx(math.pi * EARTH_RADIUS_KM / 180)
    # lon -180 and 180 are the same meridian.
    assert haversine_km(5, -180, 5, 180) == pytest.approx(0.0, abs=1e-9)
    # Paris - New York, geodesic 5837 km.
    assert haversine_km(48.8566, 2.3522, 40.7128, -74.0060) == pytest.approx(5837, rel=0.005)


def test_vectorised_broadcast_matches_scalar():
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-90, 90, 50), rng.uniform(-180, 180, 50)
    d = haversine_km(lat, lon, 10.0, 20.0)
    assert d.shape == (50,)
    for i in (0, 17, 49):
        assert d[i] == haversine_km(float(lat[i]), float(lon[i]), 10.0, 20.0)


def test_invalid_input_names_rows():
    with pytest.raises(CoordinateError, match="rows 1, 2"):
        haversine_km([0, np.nan, 95], [0, 0, 0], 0, 0)
    with pytest.raises(CoordinateError, match="second"):
        haversine_km(0, 0, 0, np.inf)
    with pytest.raises(CoordinateError, match="set B"):
        pairwise_haversine_km([0], [0], [0, 1], [0, 181])


def test_torch_matches_numpy_float64_and_float32():
    rng = np.random.default_rng(1)
    lat1, lon1, lat2, lon2 = (
        rng.uniform(-90, 90, 500),
        rng.uniform(-180, 180, 500),
        rng.uniform(-90, 90, 500),
        rng.uniform(-180, 180, 500),
    )
    lat2[:10], lon2[:10] = lat1[:10], lon1[:10]  # zero distance
    lat2[10:20], lon2[10:20] = (
        -lat1[10:20],
        np.where(lon1[10:20] > 0, lon1[10:20] - 180, lon1[10:20] + 180),
    )  # antipodes
    ref = haversine_km(lat1, lon1, lat2, lon2)
    t64 = haversine_km_torch(*(torch.from_numpy(x) for x in (lat1, lon1, lat2, lon2)))
    assert t64.dtype == torch.float64
    np.testing.assert_allclose(t64.numpy(), ref, rtol=1e-12, atol=1e-9)
    t32 = haversine_km_torch(*(torch.from_numpy(x).float() for x in (lat1, lon1, lat2, lon2)))
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), ref, rtol=1e-5, atol=5e-3)  # float32 inputs: ~1 m
    t16 = haversine_km_torch(*(torch.from_numpy(x).half() for x in (lat1, lon1, lat2, lon2)))
    assert t16.dtype == torch.float32  # computed in float32


def test_torch_gradients_finite_and_match_finite_differences():
    rng = np.random.default_rng(2)
    lat1, lon1 = rng.uniform(-80, 80, 200), rng.uniform(-179, 179, 200)
    lat2, lon2 = rng.uniform(-80, 80, 200), rng.uniform(-179, 179, 200)
    lat2[:5], lon2[:5] = lat1[:5], lon1[:5]  # zero distance
    lat2[5:10], lon2[5:10] = -lat1[5:10], lon1[5:10] + np.where(lon1[5:10] > 0, -180, 180)  # antipodes
    for dtype in (torch.float64, torch.float32):
        p = torch.tensor(np.stack([lat1, lon1]), dtype=dtype, requires_grad=True)
        d = haversine_km_torch(p[0], p[1], torch.tensor(lat2, dtype=dtype), torch.tensor(lon2, dtype=dtype))
        d.sum().backward()
        assert torch.isfinite(p.grad).all()
        # Lipschitz: one degree of latitude moves a point pi R / 180 km, one of longitude cos(lat) times that.
        km_per_deg = math.pi * EARTH_RADIUS_KM / 180
        g = p.grad.double().numpy()
        assert np.all(np.abs(g[0]) <= km_per_deg * (1 + 1e-4))
        assert np.all(np.abs(g[1]) <= km_per_deg * np.cos(np.radians(lat1)) * (1 + 1e-3) + 1e-6)
        if dtype == torch.float64:  # exactly coincident points: subgradient 0
            assert np.abs(g[:, :5]).max() < 1e-20
    # Away from the kinks the gradient equals central differences of the numpy distance.
    g = p.grad.double().numpy()
    h = 1e-6
    for i in range(10, 200, 19):
        dlat = (
            haversine_km(lat1[i] + h, lon1[i], lat2[i], lon2[i])
            - haversine_km(lat1[i] - h, lon1[i], lat2[i], lon2[i])
        ) / (2 * h)
        dlon = (
            haversine_km(lat1[i], lon1[i] + h, lat2[i], lon2[i])
            - haversine_km(lat1[i], lon1[i] - h, lat2[i], lon2[i])
        ) / (2 * h)
        assert g[0, i] == pytest.approx(dlat, rel=1e-3, abs=1e-2)
        assert g[1, i] == pytest.approx(dlon, rel=1e-3, abs=1e-2)


def test_torch_gradcheck():
    rng = np.random.default_rng(3)
    args = [torch.tensor(rng.uniform(-60, 60, 6), dtype=torch.float64, requires_grad=True) for _ in range(4)]
    assert torch.autograd.gradcheck(haversine_km_torch, args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_equals_direct(dtype):
    rng = np.random.default_rng(4)
    la, lo = rng.uniform(-90, 90, 37), rng.uniform(-180, 180, 37)
    lb, lob = rng.uniform(-90, 90, 1001), rng.uniform(-180, 180, 1001)
    lb[:37], lob[:37] = la, lo  # zeros on the diagonal
    lb[37:74], lob[37:74] = -la, np.where(lo > 0, lo - 180, lo + 180)  # antipodes
    ref = haversine_km(la[:, None], lo[:, None], lb[None, :], lob[None, :])
    for max_bytes, workers in ((1000, 1), (1000, 3), (100_000, 2), (2**30, 1)):  # tiny tiles .. one tile
        d = pairwise_haversine_km(la, lo, lb, lob, dtype=dtype, max_bytes=max_bytes, workers=workers)
        assert d.dtype == dtype and d.shape == (37, 1001)
        if dtype == np.float64:  # 1 - a in float64 near antipodes: ~0.2 m
            np.testing.assert_allclose(d, ref, rtol=1e-12, atol=1e-3)
        else:  # float32 output: ~1.2e-7 relative, a few m at 20,000 km
            np.testing.assert_allclose(d, ref, rtol=2e-7, atol=3e-3)
    assert np.abs(np.diag(d[:, :37])).max() < 1e-6


def test_pairwise_empty():
    assert pairwise_haversine_km([], [], [1.0], [2.0]).shape == (0, 1)
    assert pairwise_haversine_km([1.0], [2.0], [], []).shape == (1, 0)


def _peak_extra_bytes(fn) -> tuple[int, np.ndarray]:
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - out.nbytes, out


def test_pairwise_respects_max_bytes():
    rng = np.random.default_rng(5)
    n, m = 64, 20_000
    la, lo, lb, lob = (
        rng.uniform(-90, 90, n),
        rng.uniform(-180, 180, n),
        rng.uniform(-90, 90, m),
        rng.uniform(-180, 180, m),
    )
    pairwise_haversine_km(la[:2], lo[:2], lb[:2], lob[:2])  # warm up imports / caches
    inputs = 40 * (n + m) * 8  # radians copies, half-angle tables, validation masks
    for max_bytes in (100_000, 400_000):
        extra, d = _peak_extra_bytes(
            lambda mb=max_bytes: pairwise_haversine_km(la, lo, lb, lob, max_bytes=mb, workers=2)
        )
        assert extra <= max_bytes + inputs
    # The default budget uses cache-sized tiles (2 x 2**16 elements here): measurably more.
    extra_default, d2 = _peak_extra_bytes(lambda: pairwise_haversine_km(la, lo, lb, lob, workers=2))
    assert extra_default > 2 * _TEMP_BYTES_PER_ELEMENT * 2**16 * 0.9
    np.testing.assert_array_equal(d, d2)


def test_pairwise_float32_small_distances_absolute_accuracy():
    rng = np.random.default_rng(6)
    la, lo = rng.uniform(-80, 80, 50), rng.uniform(-179, 179, 50)
    # Points 1 m .. 10 km away from each row point.
    off = 10 ** rng.uniform(-5, -1, (50, 20))  # degrees
    lb, lob = (la[:, None] + off).ravel(), (lo[:, None] - off).ravel()
    d = pairwise_haversine_km(la, lo, lb, lob)
    ref = haversine_km(la[:, None], lo[:, None], lb[None, :], lob[None, :])
    near = ref < 20
    assert (np.abs(d - ref) / ref)[near].max() < 3e-7  # float32 relative precision


def test_asin_polynomial_matches_numpy():
    from geoloc.geo.distance import asin_small_f32

    h = np.concatenate([np.linspace(0.0, 0.5, 100_001), 10.0 ** np.linspace(-30, -1, 1000)]).astype(
        np.float32
    )
    out, x = np.empty_like(h), np.empty_like(h)
    asin_small_f32(h, out, x)
    ref = np.arcsin(np.sqrt(h.astype(np.float64)))
    np.testing.assert_allclose(out, ref, rtol=3e-7, atol=0)
    assert out[0] == 0.0


@pytest.mark.gpu
def test_torch_cuda_matches_cpu_and_gradients_finite():
    rng = np.random.default_rng(7)
    cols = [
        rng.uniform(-90, 90, 4096),
        rng.uniform(-180, 180, 4096),
        rng.uniform(-90, 90, 4096),
        rng.uniform(-180, 180, 4096),
    ]
    cols[2][:16], cols[3][:16] = cols[0][:16], cols[1][:16]  # zero distances
    for dtype in (torch.float32, torch.float64):
        cpu = [torch.tensor(c, dtype=dtype) for c in cols]
        gpu = [c.cuda().requires_grad_(True) for c in cpu]
        d_gpu = haversine_km_torch(*gpu)
        d_gpu.sum().backward()
        np.testing.assert_allclose(
            d_gpu.detach().cpu().numpy(), haversine_km_torch(*cpu).numpy(), rtol=1e-5, atol=5e-3
        )
        assert all(torch.isfinite(g.grad).all() for g in gpu)
