"""Country outlines: the TopoJSON decoder against hand-built topologies, and the shipped outlines."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, shape

from app.outlines import (
    country_outlines,
    decode_arcs,
    geometry_to_geojson,
    planar_geometry,
    ring_coordinates,
    unwrap_ring,
)


def test_decode_quantised_delta_arcs():
    topo = {"transform": {"scale": [0.5, 0.25], "translate": [-10.0, 20.0]},
            "arcs": [[[0, 0], [4, 0], [0, 8]], [[4, 8], [-4, 0], [0, -8]]]}
    a0, a1 = decode_arcs(topo)
    # positions are cumulative sums of the deltas, then scale * q + translate
    np.testing.assert_allclose(a0, [[-10, 20], [-8, 20], [-8, 22]])
    np.testing.assert_allclose(a1, [[-8, 22], [-10, 22], [-10, 20]])


def test_ring_joins_arcs_and_reverses_negative_ids():
    arcs = [np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]])]
    ring = ring_coordinates([0, ~1], arcs)  # arc 0, then arc 1 backwards; shared end point once
    np.testing.assert_allclose(ring, [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]])
    geom = geometry_to_geojson({"type": "MultiPolygon", "arcs": [[[0, ~1]]]}, arcs)
    assert shape(geom).area == pytest.approx(1.0)
    assert geometry_to_geojson({"type": "Point", "coordinates": [0, 0]}, arcs) is None


def test_unwrap_ring_removes_antimeridian_jumps():
    ring = np.array([[179.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [179.0, 1.0], [179.0, 0.0]])
    out = unwrap_ring(ring)
    assert np.all(np.abs(np.diff(out[:, 0])) <= 180)
    np.testing.assert_allclose(out[:, 1], ring[:, 1])
    np.testing.assert_allclose((out[:, 0] + 180) % 360 - 180, ring[:, 0])


def test_polar_ring_is_closed_through_the_pole():
    lon = np.linspace(-180, 180, 37)[:-1]
    ring = np.column_stack([np.r_[lon, lon[:1]], np.full(37, -70.0)])
    g = planar_geometry({"type": "Polygon", "coordinates": [ring.tolist()]})
    assert g.contains(Point(0, -80)) and not g.contains(Point(0, -60))
    assert g.area == pytest.approx(360 * 20, rel=0.02)


def test_antimeridian_polygon_is_cut_into_two_parts():
    ring = [[179.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [179.0, 1.0], [179.0, 0.0]]
    g = planar_geometry({"type": "Polygon", "coordinates": [ring]})
    assert g.area == pytest.approx(2.0)
    assert g.contains(Point(179.5, 0.5)) and g.contains(Point(-179.5, 0.5)) and not g.contains(Point(0, 0.5))


def test_shipped_outlines_put_places_in_the_right_countries():
    feats = {f["properties"]["name"]: shape(f["geometry"]) for f in country_outlines()["features"]}
    assert len(feats) > 200
    for name, (lon, lat) in {"France": (2.35, 48.85), "Brazil": (-47.9, -15.8), "Japan": (139.7, 35.7),
                             "Russia": (170.0, 67.0), "Fiji": (178.4, -18.1), "Antarctica": (0.0, -85.0)}.items():
        assert feats[name].contains(Point(lon, lat)), name
    assert not feats["Russia"].contains(Point(0.0, 67.0))  # the unwrapped ring did not span the globe


def test_shipped_outlines_have_no_segment_across_the_map():
    for f in country_outlines()["features"]:
        g = f["geometry"]
        polys = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        for poly in polys:
            for ring in poly:
                a = np.asarray(ring)
                assert a[:, 0].min() >= -180 and a[:, 0].max() <= 180
                jump = np.abs(np.diff(a[:, 0])) >= 180
                # only a polar cap's closing edge (both ends at the pole, off the Mercator map) may jump
                polar = (np.abs(a[:-1, 1]) == 90) & (np.abs(a[1:, 1]) == 90)
                assert not np.any(jump & ~polar), f["properties"]["name"]
