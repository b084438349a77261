"""GeoGuessr score forms: reference values, monotonicity, agreement, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoloc.errors import GeolocError
from geoloc.geo.score import (
    PIGEON_SCORE_SCALE_KM,
    WORLD_MAP_SIZE_KM,
    geoguessr_score,
    geoguessr_score_mapsize,
    map_size_km,
)


def test_perfect_score():
    assert geoguessr_score(0.0) == 5000
    assert geoguessr_score_mapsize(0.0) == 5000
    assert geoguessr_score_mapsize(0.025) == 5000  # within 25 m


@pytest.mark.parametrize("d", [0.5, 12.0, 250.0, 2500.0, 9000.0])
def test_reference_formula(d):
    assert geoguessr_score(d) == round(5000 * math.exp(-d / PIGEON_SCORE_SCALE_KM))
    assert geoguessr_score_mapsize(d) == round(5000 * math.exp(-10 * d / WORLD_MAP_SIZE_KM))
    assert geoguessr_score_mapsize(d, rounded=False) == pytest.approx(
        5000 * math.exp(-10 * d / WORLD_MAP_SIZE_KM)
    )


def test_recorded_duel_rounds():
    # FRONTENDS.md §1.3: about 2251 km -> 1105, 107.9 km -> 4651, 0.73 km -> 4998.
    assert geoguessr_score_mapsize(0.73) == 4998
    assert geoguessr_score_mapsize(107.9) == 4651
    assert abs(geoguessr_score_mapsize(2251.0) - 1105) <= 1


def test_vectorised_monotone_and_close():
    d = np.linspace(0, 20_000, 200_001)
    a = geoguessr_score(d)
    b = geoguessr_score_mapsize(d)
    assert a.shape == b.shape == d.shape and a.dtype == np.int64
    assert (np.diff(a) <= 0).all() and (np.diff(b) <= 0).all()
    assert a.min() >= 0 and b.min() >= 0
    # The PIGEON constant 1492.7 km is 1.01 km longer than S/10 = 1491.69 km: its score is never lower
    # and at most 2 points higher (1.25 points before rounding, at d ~ 1492 km).
    assert (a - b).min() == 0 and (a - b).max() == 2
    exact = 5000 * np.exp(-d / PIGEON_SCORE_SCALE_KM) - geoguessr_score_mapsize(d, rounded=False)
    assert 1.2 < exact.max() < 1.3


def test_other_map_size():
    s = map_size_km(47.27, 5.87, 55.06, 15.04)  # bounds of Germany
    assert 1000 < s < 1100
    assert geoguessr_score_mapsize(s / 10, s) == round(5000 / math.e)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_distance(bad):
    with pytest.raises(GeolocError, match="row 1"):
        geoguessr_score([1.0, bad])
    with pytest.raises(GeolocError):
        geoguessr_score_mapsize(bad)
    with pytest.raises(GeolocError):
        geoguessr_score_mapsize(1.0, map_size_km=0.0)
