"""Country codes of games: Natural Earth countries of points, English names, probabilities summed per
alpha-2 code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from geoloc.errors import CoordinateError
from geoloc.geo.countries import country_choices, country_codes, country_names, rank_alpha2


def test_country_of_points():
    pts = {"fr": (48.8566, 2.3522), "au": (-35.2809, 149.13), "br": (-15.79, -47.88), "jp": (35.68, 139.69),
           "us": (38.9, -77.04), "za": (-25.75, 28.19), "": (0.0, -30.0)}
    got = country_codes([p[0] for p in pts.values()], [p[1] for p in pts.values()])
    assert list(got) == list(pts)
    assert country_codes(48.85, 2.35)[0] == "fr"  # a scalar works too
    with pytest.raises(CoordinateError):
        country_codes([95.0], [0.0])


def test_names_and_choices():
    names = country_names()
    assert names["fr"] == "France" and names["au"] == "Australia" and names["cy"] == "Cyprus"
    assert names["ps"] == "Palestinian Territories"  # CLDR's name for Natural Earth's two PSX units
    assert all(len(c) == 2 and c.islower() for c in names) and len(names) > 200
    choices = country_choices()
    assert [c["name"] for c in choices] == sorted(c["name"] for c in choices)
    assert len({c["code"] for c in choices}) == len(choices) == len(names)


@dataclass
class Region:
    code: str
    iso: str
    probability: float


def test_rank_alpha2_sums_units_sharing_a_code():
    regions = [Region("FRA", "FR", 0.30), Region("AUS", "AU", 0.25), Region("IOA", "AU", 0.10),
               Region("CSI", "AU", 0.01), Region("XXX", "", 0.20), Region("BRA", "BR", 0.14)]
    ranked = rank_alpha2(regions)
    assert [c for c, _ in ranked] == ["au", "fr", "br"]
    assert [p for _, p in ranked] == pytest.approx([0.36, 0.30, 0.14])
    assert rank_alpha2([]) == []
    # ties keep the order of first appearance
    assert [c for c, _ in rank_alpha2([Region("A", "BE", 0.5), Region("B", "NL", 0.5)])] == ["be", "nl"]
    # against a direct sum over random distributions
    rng = np.random.default_rng(0)
    codes = ["AU", "AU", "FR", "CY", "CY", "CY", "BR"]
    for _ in range(20):
        p = rng.dirichlet(np.ones(len(codes)))
        ranked = dict(rank_alpha2([Region(str(i), c, float(q)) for i, (c, q) in enumerate(zip(codes, p, strict=True))]))
        for c in set(codes):
            assert ranked[c.lower()] == pytest.approx(sum(q for cc, q in zip(codes, p, strict=True) if cc == c))
