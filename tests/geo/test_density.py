"""Photo prior and the jittered land sampler."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.geo.density import (
    KM_PER_DEG_LAT,
    jitter_points_km,
    load_photo_prior,
    sample_photo_locations,
)
from geoloc.geo.distance import haversine_km
from geoloc.geo.landsea import is_land
from geoloc.geo.validate import invalid_coordinate_mask


def test_prior_shape_and_range():
    lat, lon = load_photo_prior()
    assert lat.shape == lon.shape == (100_000,)
    assert not invalid_coordinate_mask(lat, lon).any()
    # Flickr photos: the northern hemisphere dominates.
    assert (lat > 0).mean() > 0.7


def test_sampler_deterministic_land_and_valid():
    a = sample_photo_locations(3000, seed=7)
    b = sample_photo_locations(3000, seed=7)
    c = sample_photo_locations(3000, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert not invalid_coordinate_mask(*a).any()
    assert is_land(*a).all()


def test_jitter_is_km_scaled():
    rng = np.random.default_rng(1)
    for lat0 in (0.0, 60.0, -70.0):
        lat = np.full(20_000, lat0)
        lon = np.full(20_000, 10.0)
        jl, jo = jitter_points_km(lat, lon, 5.0, rng)
        north_km = (jl - lat) * KM_PER_DEG_LAT
        east_km = haversine_km(jl, lon, jl, jo)  # along the parallel (close to the true east offset)
        assert np.std(north_km) == pytest.approx(5.0, rel=0.03)
        assert np.sqrt(np.mean(east_km**2)) == pytest.approx(5.0, rel=0.03)


def test_jitter_wraps_and_reflects():
    rng = np.random.default_rng(2)
    lat = np.full(5000, 89.99)
    lon = np.full(5000, 179.99)
    jl, jo = jitter_points_km(lat, lon, 50.0, rng)
    assert not invalid_coordinate_mask(jl, jo).any()
    # Jitter of 50 km moves points about 50*sqrt(2)*... km: all within 300 km of the source.
    assert haversine_km(lat, lon, jl, jo).max() < 300


def test_sample_without_land_filter_follows_prior():
    lat, lon = sample_photo_locations(2000, seed=3, jitter_km=0.0, land_only=False)
    plat, plon = load_photo_prior()
    prior = set(zip(plat.tolist(), plon.tolist(), strict=True))
    assert all(p in prior for p in zip(lat.tolist(), lon.tolist(), strict=True))
