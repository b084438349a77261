"""Guess-map projection: pixel <-> lat/lng round trips, Selenium click offsets, attribute parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.projection import MapGeometry, click_offset
from geoloc.errors import GeolocError
from geoloc.geo import haversine_km
from geoloc.geo.mercator import MAX_LATITUDE

WORLD = MapGeometry(zoom=math.log2(600 / 256), center_lat=0.0, center_lng=0.0, width=600, height=400)


def _reference_px(g: MapGeometry, lat: float, lng: float) -> tuple[float, float]:
    """Textbook Web Mercator, written out independently of geoloc.geo.mercator."""
    size = 256 * 2**g.zoom

    def world(la, lo):
        la = max(min(la, MAX_LATITUDE), -MAX_LATITUDE)
        return (lo + 180) / 360 * size, (1 - math.log(math.tan(math.pi / 4 + math.radians(la) / 2)) / math.pi) / 2 * size

    x, y = world(lat, lng)
    cx, cy = world(g.center_lat, g.center_lng)
    dx = (x - cx + size / 2) % size - size / 2
    return dx + g.width / 2, y - cy + g.height / 2


@given(lat=st.floats(-80, 80), lng=st.floats(-179.9, 179.9), zoom=st.floats(0.5, 6),
       clat=st.floats(-60, 60), clng=st.floats(-180, 180))
@settings(max_examples=200, deadline=None)
def test_px_latlng_round_trip_and_reference(lat, lng, zoom, clat, clng):
    g = MapGeometry(zoom, clat, clng, 640, 480)
    x, y = g.to_px(lat, lng)
    rx, ry = _reference_px(g, lat, lng)
    assert x == pytest.approx(rx, abs=1e-6) and y == pytest.approx(ry, abs=1e-6)
    lat2, lng2 = g.to_latlng(x, y)
    assert lat2 == pytest.approx(lat, abs=1e-7)
    assert ((lng2 - lng + 180) % 360 - 180) == pytest.approx(0, abs=1e-7)


def test_world_map_corners_and_centre():
    # the whole world (600 px wide at zoom log2(600/256)) centred on (0, 0)
    assert WORLD.to_px(0, 0) == pytest.approx((300, 200))
    x, _ = WORLD.to_px(0, 179.999)
    assert x == pytest.approx(600, abs=0.01)
    assert WORLD.to_latlng(0, 200)[1] == pytest.approx(-180)


@given(lat=st.floats(-70, 70), lng=st.floats(-179, 179))
@settings(max_examples=200, deadline=None)
def test_click_offset_selects_point_within_half_pixel(lat, lng):
    t = click_offset(WORLD, lat, lng)
    assert isinstance(t.dx, int) and isinstance(t.dy, int)
    assert not t.clamped
    # centre origin floor(w/2), floor(h/2) plus the offset is the clicked pixel
    assert (300 + t.dx, 200 + t.dy) == (t.x, t.y)
    x, y = WORLD.to_px(lat, lng)
    assert abs(t.x - x) <= 0.5 and abs(t.y - y) <= 0.5
    # the point it reports is where that pixel is, within one pixel's ground size of the target
    assert WORLD.to_px(t.lat, t.lng) == pytest.approx((t.x, t.y), abs=1e-6)
    px_km = 40075.0 / 600 * math.cos(math.radians(lat))
    assert haversine_km(lat, lng, t.lat, t.lng) <= px_km * 0.75 + 1e-6


def test_click_offset_uses_the_given_origin():
    a = click_offset(WORLD, 10, 20)
    b = click_offset(WORLD, 10, 20, origin=(299.5, 200.25))
    assert (a.x, a.y) == pytest.approx((b.x, b.y), abs=1.0)
    assert b.x == pytest.approx(299.5 + b.dx) and b.y == pytest.approx(200.25 + b.dy)


def test_off_map_points_are_clamped_to_the_edge():
    g = MapGeometry(zoom=3, center_lat=45, center_lng=10, width=300, height=200)
    t = click_offset(g, -60, 10)  # far south of the view
    assert t.clamped and t.y == 199
    t = click_offset(g, 45, 120)  # far east
    assert t.clamped and t.x == 299
    assert 0 <= t.x < g.width and 0 <= t.y < g.height


def test_antimeridian_view():
    g = MapGeometry(zoom=3, center_lat=0, center_lng=180, width=400, height=300)
    xe, _ = g.to_px(0, 179)
    xw, _ = g.to_px(0, -179)
    assert xe < 200 < xw
    assert np.allclose(g.to_latlng(*g.to_px(-10, -175)), (-10, -175))


def test_from_attributes_parses_and_rejects():
    g = MapGeometry.from_attributes({"data-zoom": "1.2", "data-center-lat": "0", "data-center-lng": "-3.5"},
                                    600, 400)
    assert (g.zoom, g.center_lat, g.center_lng, g.width, g.height) == (1.2, 0.0, -3.5, 600.0, 400.0)
    with pytest.raises(GeolocError, match="data-zoom"):
        MapGeometry.from_attributes({"data-center-lat": "0", "data-center-lng": "0"}, 600, 400)
    with pytest.raises(GeolocError, match="data-center-lng"):
        MapGeometry.from_attributes({"data-zoom": "1", "data-center-lat": "0", "data-center-lng": "x"}, 600, 400)
    with pytest.raises(GeolocError, match="not finite"):
        MapGeometry.from_attributes({"data-zoom": "nan", "data-center-lat": "0", "data-center-lng": "0"}, 6, 4)
    with pytest.raises(GeolocError, match="no size"):
        MapGeometry.from_attributes({"data-zoom": "1", "data-center-lat": "0", "data-center-lng": "0"}, 0, 400)
