"""Web Mercator: reference values, round trips, viewport geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoloc.geo.mercator import (
    MAX_LATITUDE,
    Viewport,
    latlon_to_viewport_px,
    latlon_to_world_px,
    viewport_px_to_latlon,
    world_px_to_latlon,
)


def test_reference_points():
    assert latlon_to_world_px(0.0, 0.0, 0) == pytest.approx((128.0, 128.0))
    assert latlon_to_world_px(MAX_LATITUDE, -180.0, 3) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert latlon_to_world_px(-MAX_LATITUDE, 180.0, 1) == pytest.approx((512.0, 512.0), abs=1e-6)
    assert latlon_to_world_px(89.9, 0.0, 0)[1] == pytest.approx(0.0, abs=1e-6)  # clamped
    assert MAX_LATITUDE == pytest.approx(85.0511287798, abs=1e-9)
    # Tile of Paris at zoom 10 is x=518, y=352 (OSM slippy-map tile numbering).
    x, y = latlon_to_world_px(48.8566, 2.3522, 10)
    assert (int(x // 256), int(y // 256)) == (518, 352)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-MAX_LATITUDE, MAX_LATITUDE),
    st.floats(-180.0, 179.999),
    st.floats(0.0, 21.0),
)
def test_world_round_trip(lat, lon, zoom):
    x, y = latlon_to_world_px(lat, lon, zoom)
    lat2, lon2 = world_px_to_latlon(x, y, zoom)
    assert lat2 == pytest.approx(lat, abs=1e-7)
    assert lon2 == pytest.approx(lon, abs=1e-7)


def test_viewport_centre_and_round_trip():
    vp = Viewport(center_lat=20.0, center_lon=10.0, zoom=2.5, width=921, height=600)
    assert latlon_to_viewport_px(20.0, 10.0, viewport=vp) == pytest.approx((460.5, 300.0))
    rng = np.random.default_rng(0)
    px, py = rng.uniform(0, 921, 500), rng.uniform(0, 600, 500)
    lat, lon = viewport_px_to_latlon(px, py, viewport=vp)
    px2, py2 = latlon_to_viewport_px(lat, lon, viewport=vp)
    np.testing.assert_allclose(px2, px, atol=1e-6)
    np.testing.assert_allclose(py2, py, atol=1e-6)
    # Keyword form gives the same as the dataclass form.
    got = latlon_to_viewport_px(lat, lon, center=(20.0, 10.0), zoom=2.5, width=921, height=600)
    np.testing.assert_allclose(got[0], px2)


def test_viewport_bounds_round_trip_and_antimeridian():
    vp = Viewport(center_lat=-10.0, center_lon=178.0, zoom=4.0, width=800, height=500)
    south, west, north, east = vp.bounds()
    assert west > 0 > east  # crosses the antimeridian
    vp2 = Viewport.from_bounds(south, west, north, east, 800, 500)
    assert vp2.zoom == pytest.approx(4.0)
    assert vp2.center_lat == pytest.approx(-10.0, abs=1e-9)
    assert vp2.center_lon == pytest.approx(178.0, abs=1e-9)
    # A point just east of the antimeridian is drawn right of the centre, not a world away.
    px, _ = latlon_to_viewport_px(-10.0, -179.0, viewport=vp)
    assert 400 < px < 800
    # bounds= keyword form.
    px3, py3 = latlon_to_viewport_px(north, west, bounds=(south, west, north, east), width=800, height=500)
    assert (px3, py3) == pytest.approx((0.0, 0.0), abs=1e-6)


def test_missing_arguments():
    with pytest.raises(ValueError):
        latlon_to_viewport_px(0.0, 0.0, width=10, height=10)


def test_invalid_coordinates_raise():
    from geoloc.errors import CoordinateError

    with pytest.raises(CoordinateError, match="row 1"):
        latlon_to_world_px([0.0, np.nan], [0.0, 0.0], 3)
    with pytest.raises(CoordinateError, match="row 0"):
        latlon_to_viewport_px(95.0, 0.0, center=(0.0, 0.0), zoom=2, width=100, height=100)
    with pytest.raises(CoordinateError):
        viewport_px_to_latlon(np.inf, 0.0, center=(0.0, 0.0), zoom=2, width=100, height=100)
    # Longitudes beyond +-180 are map copies, not errors: lon 190 is drawn one world east of -170.
    x1, _ = latlon_to_world_px(0.0, 190.0, 0)
    x2, _ = latlon_to_world_px(0.0, -170.0, 0)
    assert x1 - x2 == pytest.approx(256.0)
