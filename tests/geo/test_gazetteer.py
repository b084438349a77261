"""Gazetteer: loading the GeoNames table and nearest-place search against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import CoordinateError
from geoloc.geo.distance import haversine_km
from geoloc.geo.gazetteer import NEAREST_COLUMNS, PLACE_COLUMNS, load_places, nearest_place


def test_load_places_columns_and_size():
    df = load_places()
    assert list(df.columns) == PLACE_COLUMNS
    assert 140_000 < len(df) < 150_000
    assert df["lat"].between(-90, 90).all() and df["lon"].between(-180, 180).all()
    # "NA" (Namibia) must survive as a country code, not become NaN.
    assert (df["cc"] == "NA").sum() > 0
    assert df["cc"].str.len().eq(2).all()


@pytest.mark.parametrize(
    ("lat", "lon", "name", "cc"),
    [
        (48.8566, 2.3522, "Paris", "FR"),
        (35.6895, 139.6917, "Tokyo", "JP"),
        (-33.8688, 151.2093, "Sydney", "AU"),
        (40.7128, -74.0060, "New York City", "US"),
        (-22.5609, 17.0658, "Windhoek", "NA"),
    ],
)
def test_nearest_place_known_cities(lat, lon, name, cc):
    out = nearest_place(lat, lon)
    assert list(out.columns) == NEAREST_COLUMNS
    assert len(out) == 1
    assert out.loc[0, "cc"] == cc
    assert out.loc[0, "distance_km"] < 15.0
    # The exact name can be a district; the city itself must be close by in the gazetteer.
    places = load_places()
    city = places[(places["name"] == name) & (places["cc"] == cc)]
    assert len(city) >= 1
    assert haversine_km(lat, lon, city["lat"].to_numpy(), city["lon"].to_numpy()).min() < 15.0


def test_nearest_place_matches_brute_force():
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 40)))
    lon = rng.uniform(-180, 180, 40)
    out = nearest_place(lat, lon)
    places = load_places()
    plat, plon = places["lat"].to_numpy(), places["lon"].to_numpy()
    for i in range(lat.size):
        d = haversine_km(lat[i], lon[i], plat, plon)
        assert out.loc[i, "distance_km"] == pytest.approx(d.min(), rel=1e-9, abs=1e-6)
        assert out.loc[i, "distance_km"] == pytest.approx(
            haversine_km(lat[i], lon[i], out.loc[i, "lat"], out.loc[i, "lon"]), abs=1e-9
        )


def test_nearest_place_empty_and_invalid():
    assert len(nearest_place([], [])) == 0
    assert list(nearest_place([], []).columns) == NEAREST_COLUMNS
    with pytest.raises(CoordinateError, match="row 1"):
        nearest_place([10.0, np.nan], [0.0, 0.0])
    with pytest.raises(CoordinateError, match="row 0"):
        nearest_place([91.0], [0.0])
