"""Hedged guesses: the centroid with the highest expected GeoGuessr score, against a float64 loop."""

from __future__ import annotations

import math

import numpy as np

from geoloc.geo.distance import haversine_km
from geoloc.refine.hedge import apply_hedge, hedged_cells


def _loop(p, cent):
    best, best_e = -1, -1.0
    for x in range(len(cent)):
        e = sum(p[c] * 5000 * math.exp(-float(haversine_km(*cent[x], *cent[c])) / 1492.7) for c in range(len(cent)))
        if e > best_e:
            best, best_e = x, e
    return best, best_e


def test_hedged_cell_equals_the_expected_score_loop():
    g = np.random.default_rng(0)
    cent = np.c_[g.uniform(-60, 70, 30), g.uniform(-180, 180, 30)]
    p = g.dirichlet(np.full(30, 0.3), size=8)
    h, e = hedged_cells(p, cent, top_m=30, top_n=30)
    for i in range(8):
        want, want_e = _loop(p[i], cent)
        assert h[i] == want and math.isclose(e[i], want_e, rel_tol=1e-9)


def test_split_mass_moves_the_guess_between_the_pieces():
    # three cells: two far apart holding 40 % / 35 %, one in the middle with 25 %
    cent = np.array([[40.0, -5.0], [40.0, 15.0], [40.0, 5.0]])
    p = np.array([[0.40, 0.35, 0.25]])
    h, _ = hedged_cells(p, cent)
    assert h[0] == 2  # the middle beats the arg-max on average
    lat, lon, moved = apply_hedge(np.array([40.1]), np.array([-5.1]), np.array([0]), p, cent)
    assert moved[0] and (lat[0], lon[0]) == (40.0, 5.0)
    # a confident distribution keeps the refined guess
    lat, lon, moved = apply_hedge(np.array([40.1]), np.array([-5.1]), np.array([0]), np.array([[0.9, 0.05, 0.05]]),
                                  cent)
    assert not moved[0] and (lat[0], lon[0]) == (40.1, -5.1)
