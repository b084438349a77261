"""Admin-1 / admin-0 boundaries and the vectorised point lookup, against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geoloc.errors import CoordinateError
from geoloc.geo.boundaries import LOOKUP_COLUMNS, load_admin0, load_admin1, lookup_admin
from geoloc.geo.distance import haversine_km


@pytest.fixture(scope="module")
def admin1():
    return load_admin1()


@pytest.mark.parametrize(
    ("lat", "lon", "adm0", "admin1"),
    [
        (48.8566, 2.3522, "FRA", "Paris"),  # NE admin-1 for France are départements
        (40.7128, -74.0060, "USA", "New York"),
        (35.6895, 139.6917, "JPN", "Tokyo"),
        (-33.8688, 151.2093, "AUS", "New South Wales"),
        (-22.9068, -43.1729, "BRA", "Rio de Janeiro"),
        (52.5200, 13.4050, "DEU", "Berlin"),
        (19.4326, -99.1332, "MEX", "Distrito Federal"),
    ],
)
def test_known_cities(lat, lon, adm0, admin1):
    out = lookup_admin(lat, lon)
    assert list(out.columns) == LOOKUP_COLUMNS
    assert out.loc[0, "adm0_a3"] == adm0
    assert out.loc[0, "admin1"] == admin1
    assert out.loc[0, "distance_km"] == 0.0


def test_open_sea_is_none():
    out = lookup_admin([0.0, -45.0, 30.0], [-30.0, -120.0, -40.0])
    assert (out["adm0_a3"] == "none").all() and (out["admin1"] == "none").all()
    assert (out["index"] == -1).all() and np.isinf(out["distance_km"]).all()


def test_offshore_point_takes_nearest_unit_within_max_km(admin1):
    lat, lon = [43.60, 43.50, -33.95], [7.30, 7.50, 151.30]  # off Nice (two) and off Sydney
    pts = shapely.points(lon, lat)
    assert not shapely.intersects(pts[:, None], np.asarray(admin1.geometry)[None, :]).any()  # really at sea
    strict = lookup_admin(lat, lon, max_km=0)
    assert (strict["adm0_a3"] == "none").all()
    out = lookup_admin(lat, lon, max_km=30)
    assert list(out["adm0_a3"]) == ["FRA", "FRA", "AUS"]
    assert ((out["distance_km"] > 0) & (out["distance_km"] <= 30)).all()
    # The reported unit is the nearest one: brute force with great-circle distances to the
    # boundaries of all units near the point, densified to ~50 m.
    bounds = shapely.bounds(np.asarray(admin1.geometry))
    for i in range(3):
        near = np.flatnonzero(
            (bounds[:, 0] < lon[i] + 2)
            & (bounds[:, 2] > lon[i] - 2)
            & (bounds[:, 1] < lat[i] + 2)
            & (bounds[:, 3] > lat[i] - 2)
        )
        dense = shapely.segmentize(shapely.boundary(np.asarray(admin1.geometry)[near]), 0.0005)
        xy, which = shapely.get_coordinates(dense, return_index=True)
        d = haversine_km(lat[i], lon[i], xy[:, 1], xy[:, 0])
        assert out.loc[i, "index"] == near[which[np.argmin(d)]]
        assert out.loc[i, "distance_km"] == pytest.approx(d.min(), rel=0.005, abs=0.05)
    # A smaller radius than the distance gives "none".
    tight = lookup_admin(lat, lon, max_km=float(out["distance_km"].min()) / 2)
    assert (tight["adm0_a3"] == "none").all()


def test_random_points_match_brute_force(admin1):
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 400)))
    lon = rng.uniform(-180, 180, 400)
    out = lookup_admin(lat, lon, max_km=0)
    inside = shapely.intersects_xy(np.asarray(admin1.geometry)[None, :], lon[:, None], lat[:, None])
    expected = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)  # lowest index wins
    np.testing.assert_array_equal(out["index"].to_numpy(), expected)
    found = expected >= 0
    assert 0.15 < found.mean() < 0.45  # about 29 % of the sphere is land
    np.testing.assert_array_equal(
        out["adm0_a3"].to_numpy()[found], admin1["adm0_a3"].to_numpy()[expected[found]]
    )


def test_chunking_and_antimeridian_fallback():
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-60, 70, 300), rng.uniform(-180, 180, 300)
    a = lookup_admin(lat, lon, max_km=50)
    b = lookup_admin(lat, lon, max_km=50, chunk_size=7)
    pd.testing.assert_frame_equal(a, b)
    # Just east of the antimeridian, off Fiji's Vanua Levu / Taveuni (units split at 180).
    out = lookup_admin([-16.8, -16.8], [-179.99, 179.99], max_km=80)
    assert (out["adm0_a3"] == "FJI").all()


def test_invalid_rows():
    with pytest.raises(CoordinateError, match="rows 1, 3"):
        lookup_admin([48.85, np.nan, 40.7, 95.0], [2.35, 0.0, -74.0, 0.0])
    out = lookup_admin([48.85, np.nan, 40.7], [2.35, 0.0, -74.0], invalid="none")
    assert list(out["index"] < 0) == [False, True, False]
    assert out.loc[1, "index"] == -2 and np.isnan(out.loc[1, "distance_km"])
    assert out.loc[1, "adm0_a3"] == "none"
    assert len(lookup_admin([], [])) == 0


def test_admin0_one_row_per_country(admin1):
    a0 = load_admin0()
    assert a0["adm0_a3"].is_unique
    assert set(a0["adm0_a3"]) == set(admin1["adm0_a3"])
    assert a0.geometry.is_valid.all()
    assert set(a0.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    # Points inside an admin-1 unit are inside its country.
    rng = np.random.default_rng(2)
    sample = admin1.sample(60, random_state=3)
    reps = shapely.point_on_surface(np.asarray(sample.geometry))
    countries = a0.set_index("adm0_a3").geometry
    for code, p in zip(sample["adm0_a3"], reps, strict=True):
        assert countries[code].buffer(1e-6).contains(p)
    del rng


def test_admin1_is_valid_polygons(admin1):
    assert len(admin1) > 4500
    assert admin1.geometry.is_valid.all()
    assert not admin1.geometry.is_empty.any()
    assert set(admin1.geometry.geom_type) <= {"Polygon", "MultiPolygon"}


def test_coastal_fallback_matches_brute_force_on_prior_points(admin1):
    from geoloc.geo.density import sample_photo_locations

    lat, lon = sample_photo_locations(20_000, seed=11, jitter_km=10.0, land_only=False)
    outside = lookup_admin(lat, lon, max_km=0)["index"].to_numpy() < 0
    lat, lon = lat[outside][:40], lon[outside][:40]
    assert lat.size == 40
    out = lookup_admin(lat, lon, max_km=25)
    geoms = np.asarray(admin1.geometry)
    bounds = shapely.bounds(geoms)
    for i in range(lat.size):
        near = np.flatnonzero(
            (bounds[:, 0] < lon[i] + 1)
            & (bounds[:, 2] > lon[i] - 1)
            & (bounds[:, 1] < lat[i] + 1)
            & (bounds[:, 3] > lat[i] - 1)
        )
        if near.size == 0:
            assert out.loc[i, "index"] == -1
            continue
        dense = shapely.segmentize(shapely.boundary(geoms[near]), 0.0005)
        xy, which = shapely.get_coordinates(dense, return_index=True)
        d = haversine_km(lat[i], lon[i], xy[:, 1], xy[:, 0])
        per_unit = np.full(near.size, np.inf)
        np.minimum.at(per_unit, which, d)
        if per_unit.min() > 25.5:
            assert out.loc[i, "index"] == -1
        elif per_unit.min() < 24.5:
            k = int(np.flatnonzero(near == out.loc[i, "index"])[0])
            # The reported unit is (one of) the nearest, up to the metric's 0.5 % and the 50 m densification.
            assert per_unit[k] <= per_unit.min() * 1.005 + 0.05
            assert out.loc[i, "distance_km"] == pytest.approx(per_unit[k], rel=0.005, abs=0.05)
