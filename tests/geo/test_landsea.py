"""Land/sea mask on known points."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import CoordinateError
from geoloc.geo.landsea import is_land, is_sea

LAND = [(48.8566, 2.3522), (-15.79, -47.88), (39.9, 116.4), (-25.0, 134.0), (72.0, -40.0), (-80.0, 0.0)]
SEA = [(0.0, -30.0), (30.0, -150.0), (-40.0, 80.0), (20.0, 65.0), (55.0, 3.0), (0.0, 0.0)]


def test_known_points():
    lat, lon = np.array(LAND + SEA).T
    got = is_land(lat, lon)
    assert got.dtype == bool and got.shape == (len(LAND) + len(SEA),)
    assert got[: len(LAND)].all()
    assert not got[len(LAND) :].any()
    np.testing.assert_array_equal(is_sea(lat, lon), ~got)


def test_scalar_and_invalid():
    assert bool(is_land(48.8566, 2.3522)) is True
    assert is_land(48.8566, 2.3522).shape == ()
    with pytest.raises(CoordinateError, match="row 2"):
        is_land([0, 0, 0], [0, 0, 200])


def test_identical_to_global_land_mask_package():
    from global_land_mask import globe

    rng = np.random.default_rng(0)
    lat = np.concatenate([rng.uniform(-90, 90, 20_000), [90.0, -90.0, 0.0, 89.999, -89.999]])
    lon = np.concatenate([rng.uniform(-180, 180, 20_000), [180.0, -180.0, 179.999, -179.999, 0.0]])
    # Points on and around cell edges (1/120 degree grid).
    edge_lat = np.round(rng.uniform(-89, 89, 2000) * 120) / 120
    edge_lon = np.round(rng.uniform(-179, 179, 2000) * 120) / 120
    lat = np.concatenate([lat, edge_lat, edge_lat + 1e-9, edge_lat - 1e-9])
    lon = np.concatenate([lon, edge_lon, edge_lon - 1e-9, edge_lon + 1e-9])
    np.testing.assert_array_equal(is_land(lat, lon), globe.is_land(lat, lon))
    # Coastal points sampled near land/sea transitions.
    coast_lat = np.linspace(43.0, 44.0, 3000)
    coast_lon = np.full(3000, 7.3)
    np.testing.assert_array_equal(is_land(coast_lat, coast_lon), globe.is_land(coast_lat, coast_lon))
