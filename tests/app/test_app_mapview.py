"""Map builders: layer data, colour/size ramps, the uncertainty radius and the deck's offline JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mapview import (
    MAX_POINT_PX,
    MIN_POINT_PX,
    MapPoint,
    build_deck,
    cell_features,
    point_radius_px,
    probability_colour,
    top_points_data,
    uncertainty_radius_km,
    view_state_for,
)
from geoloc.geo import haversine_km
from geoloc.predict import Place, Prediction, TopPoint

probs = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=30)


def make_prediction(points, lat=None, lon=None) -> Prediction:
    """A Prediction with top-k (lat, lon, probability) triples; the guess defaults to the first point."""
    tops = [TopPoint(lat=a, lon=b, probability=p, cell=i, cell_name=f"cell {i}", country="FRA", admin1="FRA-1",
                     place=Place("Town", "Region", "FR", 1.5)) for i, (a, b, p) in enumerate(points)]
    return Prediction(source="x", lat=points[0][0] if lat is None else lat, lon=points[0][1] if lon is None else lon,
                      top_k=tops, views=1, timings_ms={"total": 1.0})


@settings(max_examples=60, deadline=None)
@given(probs)
def test_colour_is_monotone_in_probability(p):
    p = np.asarray(p)
    order = np.argsort(p, kind="stable")
    c = probability_colour(p).astype(int)[order]
    assert c.shape == (p.size, 4)
    assert np.all(np.diff(c[:, 3]) >= 0)          # alpha grows with probability
    assert np.all(np.diff(c[:, 1]) <= 0)          # green falls: yellow -> red
    assert np.all(np.diff(c[:, 2]) <= 0)


def test_colour_endpoints():
    c = probability_colour([0.0, 0.5, 1.0])
    assert tuple(c[0]) == (255, 237, 160, 60) and tuple(c[2]) == (189, 0, 38, 220)
    assert probability_colour([0.0, 0.0])[:, 3].tolist() == [60, 60]  # all-zero input is not NaN


@settings(max_examples=60, deadline=None)
@given(probs)
def test_point_radius_monotone_and_bounded(p):
    p = np.asarray(p)
    r = point_radius_px(p)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(r[order]) >= -1e-12)
    assert np.all((r >= MIN_POINT_PX) & (r <= MAX_POINT_PX + 1e-12))
    if p.max() > 0:
        assert r[np.argmax(p)] == pytest.approx(MAX_POINT_PX)


def test_uncertainty_radius_matches_weighted_mean_distance():
    pts = [(48.85, 2.35, 0.5), (40.71, -74.0, 0.3), (35.68, 139.7, 0.2)]
    pred = make_prediction(pts, lat=45.0, lon=5.0)
    expected = sum(p * float(haversine_km(45.0, 5.0, a, b)) for a, b, p in pts) / 1.0
    assert uncertainty_radius_km(pred) == pytest.approx(expected, rel=1e-9)
    # weights are renormalised over the top-k: scaling every probability changes nothing
    scaled = make_prediction([(a, b, p / 10) for a, b, p in pts], lat=45.0, lon=5.0)
    assert uncertainty_radius_km(scaled) == pytest.approx(expected, rel=1e-9)
    assert uncertainty_radius_km(make_prediction([(10.0, 20.0, 1.0)])) == pytest.approx(0.0, abs=1e-9)
    assert uncertainty_radius_km(Prediction(source="bad", error="x")) == 0.0


def test_top_points_data_positions_and_ranks():
    pts = [(48.85, 2.35, 0.5), (40.71, -74.0, 0.3), (35.68, 139.7, 0.2)]
    data = top_points_data(make_prediction(pts))
    assert [(d["lat"], d["lon"], d["probability"]) for d in data] == pts
    assert [d["rank"] for d in data] == [1, 2, 3]
    assert data[0]["label"] == "1 (50.0%) cell 0" and data[0]["rank_text"] == "1" and "Town" in data[0]["place"]
    radii = [d["radius_px"] for d in data]
    assert radii == sorted(radii, reverse=True)


def test_cell_features_use_the_bundle_polygons(geolocator):
    from PIL import Image

    pred = geolocator.predict(Image.new("RGB", (64, 64), (90, 120, 60)), places=False)[0]
    feats = cell_features(pred, geolocator.bundle.geocells)
    assert [f["properties"]["cell"] for f in feats] == [t.cell for t in pred.top_k]
    expected = probability_colour([t.probability for t in pred.top_k])
    assert [f["properties"]["fill"] for f in feats] == expected.tolist()
    from shapely.geometry import shape

    for f in feats:
        cell_poly = geolocator.bundle.geocells.frame.geometry.iloc[f["properties"]["cell"]]
        assert shape(f["geometry"]).symmetric_difference(cell_poly).area < 0.05 * cell_poly.area + 0.5


def test_view_state_frames_the_points():
    v = view_state_for([(10.0, 20.0), (12.0, 22.0)])
    assert v["latitude"] == pytest.approx(11.0) and v["longitude"] == pytest.approx(21.0)
    wide = view_state_for([(-40.0, -120.0), (60.0, 150.0)])
    assert wide["zoom"] < v["zoom"]
    assert view_state_for([])["zoom"] > 0


def test_deck_json_is_offline_and_has_every_layer(geolocator):
    from PIL import Image

    pred = geolocator.predict(Image.new("RGB", (64, 64), (30, 60, 200)))[0]
    deck = build_deck(pred, geocells=geolocator.bundle.geocells, exif=(51.5, -0.12),
                      extra_points=[MapPoint(1.0, 2.0, "you")])
    doc = json.loads(deck.to_json())
    ids = [layer["id"] for layer in doc["layers"]]
    assert ids == ["ocean", "countries", "cells", "uncertainty", "top_k", "top_k_labels", "guess", "exif", "extra"]
    # no base map: no provider, and the style is pydeck's sentinel that Streamlit drops (not a Carto URL)
    assert "mapProvider" not in doc and doc.get("mapStyle") in (None, "__MAP_STYLE__")
    text = deck.to_json()
    assert "http://" not in text and "https://" not in text
    layers = {layer["id"]: layer for layer in doc["layers"]}
    assert layers["top_k"]["radiusUnits"] == "pixels" and layers["uncertainty"]["radiusUnits"] == "meters"
    assert layers["uncertainty"]["data"][0]["radius_m"] == pytest.approx(uncertainty_radius_km(pred) * 1e3)
    assert (layers["guess"]["data"][0]["lat"], layers["guess"]["data"][0]["lon"]) == (pred.lat, pred.lon)
    assert (layers["exif"]["data"][0]["lat"], layers["exif"]["data"][0]["lon"]) == (51.5, -0.12)


def test_empty_deck_for_a_failed_prediction():
    doc = json.loads(build_deck(Prediction(source="bad", error="nope")).to_json())
    assert [layer["id"] for layer in doc["layers"]] == ["ocean", "countries"]


def test_guess_map_is_the_click_grid_alone():
    grid = [{"lat": 1.0, "lon": 2.0, "label": "a"}, {"lat": 3.0, "lon": 4.0, "label": "b"}]
    doc = json.loads(build_deck(None, click_grid=grid, base_map=False).to_json())
    assert [layer["id"] for layer in doc["layers"]] == ["click_grid"]
    layer = doc["layers"][0]
    assert layer["pickable"] is True and layer["data"] == grid and layer["radiusUnits"] == "pixels"
