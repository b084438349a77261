"""Attributes from real geography: tables, climate, season, sun position, stable hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from geoloc.synth.attributes import climate_class, season_of, solar_position, stable_hash, stable_unit
from geoloc.synth.tables import (
    continent_of_territory,
    driving_left_codes,
    load_countries,
    script_of_territory,
)


def test_stable_hash_is_sha256_prefix():
    ref = int.from_bytes(hashlib.sha256(b"a\x1f1\x1fb").digest()[:8], "big") >> 1
    assert stable_hash("a", 1, "b") == ref
    assert stable_hash("a", 1, "b") != stable_hash("a", 1, "c")
    u = stable_unit("x")
    assert 0.0 <= u < 1.0


def test_driving_side_table():
    left = driving_left_codes()
    assert 70 <= len(left) <= 80
    assert {"GB", "JP", "IN", "AU", "ZA", "TH", "NZ", "IE"} <= left
    assert not {"US", "FR", "DE", "CN", "BR", "RU"} & left
    c = load_countries()
    assert bool(c.loc["GBR", "drives_left"]) and not bool(c.loc["FRA", "drives_left"])


@pytest.mark.parametrize(
    ("iso", "script"),
    [("JP", "Jpan"), ("CN", "Hans"), ("TW", "Hant"), ("KR", "Kore"), ("RU", "Cyrl"), ("GR", "Grek"),
     ("IL", "Hebr"), ("EG", "Arab"), ("IN", "Deva"), ("TH", "Thai"), ("US", "Latn"), ("GB", "Latn")],
)
def test_script_from_cldr(iso, script):
    assert script_of_territory(iso)[1] == script


def test_continents():
    assert continent_of_territory("FR", 46.0) == "Europe"
    assert continent_of_territory("ES", 40.0) == "Europe"
    assert continent_of_territory("BR", -10.0) == "South America"
    assert continent_of_territory("MX", 20.0) == "North America"
    assert continent_of_territory("KE", 0.0) == "Africa"
    assert continent_of_territory("NZ", -41.0) == "Oceania"
    assert continent_of_territory("IS", 65.0) == "Europe"
    c = load_countries()
    assert set(c["continent"]) <= {"Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania",
                                   "South America"}
    # Every country has a style region shared with at least one other country, except islands.
    assert (c.groupby("style_region").size() >= 2).mean() > 0.8


def test_climate_known_points():
    pts = {
        "BW": [(24.7, 46.7), (-23.7, 133.9), (30.0, 31.2)],  # Riyadh, Alice Springs, Cairo
        "Af": [(1.3, 103.8), (-3.1, -60.0)],  # Singapore, Manaus
        "D": [(55.7, 37.6), (41.9, -87.6)],  # Moscow, Chicago
        "Cs": [(34.05, -118.2), (41.9, 12.5), (-33.9, 18.4)],  # Los Angeles, Rome, Cape Town
        "Cf": [(51.5, -0.1), (48.85, 2.35)],  # London, Paris
        "E": [(70.0, -50.0)],  # Greenland coast
    }
    for code, ps in pts.items():
        la, lo = np.array(ps).T
        assert list(climate_class(la, lo)) == [code] * len(ps), code


def test_season_is_hemisphere_aware():
    s = season_of([51.0, -34.0, 51.0, -34.0], [7, 7, 1, 1])
    assert list(s) == ["summer", "winter", "winter", "summer"]


def test_solar_position_against_noon_formula():
    # At solar noon the elevation is 90 - |lat - declination|; the sun is due south/north.
    lat = np.array([51.5, -33.9, 0.0, 70.0])
    for month in (3, 6, 9, 12):
        el, az = solar_position(lat, np.full(4, month), np.full(4, 12.0))
        doy = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][month - 1] + 15
        dec = -23.44 * np.cos(2 * np.pi * (doy + 10) / 365)
        np.testing.assert_allclose(el, 90 - np.abs(lat - dec), atol=1e-6)
        north_of_sun = lat > dec
        np.testing.assert_allclose(az[north_of_sun], 180.0, atol=1e-6)
    # Morning sun is in the east, afternoon sun in the west; June days are longer in the north.
    _, az_m = solar_position([45.0], [6], [8.0])
    _, az_a = solar_position([45.0], [6], [16.0])
    assert 0 < az_m[0] < 180 < az_a[0] < 360
    el_n, _ = solar_position([60.0], [6], [6.0])
    el_s, _ = solar_position([-60.0], [6], [6.0])
    assert el_n[0] > 0 > el_s[0]
