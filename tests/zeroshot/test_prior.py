"""The geographic prior over geocells and the photo-density modes, against plain references."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import GeolocError
from geoloc.geo.density import load_photo_prior
from geoloc.zeroshot.prior import cell_counts, cell_log_prior, density_modes


@pytest.fixture(scope="module")
def quadrants():
    """Four cells that tile the globe (N/S x W/E of Greenwich); every prior point lies in exactly one (the
    lowest index on a shared border)."""
    import geopandas as gpd
    from shapely.geometry import box

    from geoloc.cells.geocell_set import GeocellSet

    boxes = [(-180, 0, 0, 90), (0, 0, 180, 90), (-180, -90, 0, 0), (0, -90, 180, 0)]
    return GeocellSet(gpd.GeoDataFrame(
        {"name": ["NW", "NE", "SW", "SE"], "country": ["", "", "", ""], "country_name": ["", "", "", ""],
         "adm1_code": ["", "", "", ""], "admin1": ["", "", "", ""], "size": np.array([1, 2, 3, 0]),
         "lat": [45.0, 45.0, -45.0, -45.0], "lon": [-90.0, 90.0, -90.0, 90.0]},
        geometry=[box(*b) for b in boxes], crs="EPSG:4326"), {"kind": "test"})


def test_density_counts_equal_a_quadrant_count(quadrants):
    lat, lon = load_photo_prior()
    north, east = lat >= 0, lon >= 0  # lowest index wins on the equator / Greenwich / antimeridian
    ref = np.array([(north & (lon <= 0)).sum(), (north & east & (lon > 0)).sum(),
                    (~north & (lon <= 0)).sum(), (~north & (lon > 0)).sum()], dtype=float)
    got = cell_counts(quadrants, "density")
    assert got.sum() == len(lat)
    np.testing.assert_allclose(got, ref, atol=np.sum((lat == 0) | (lon == 0) | (np.abs(lon) == 180)))
    assert got[1] > got[3]  # more photos in the northern hemisphere's east than in the southern's


def test_log_prior_sources(quadrants):
    lp = cell_log_prior(quadrants, "cells")
    np.testing.assert_allclose(np.exp(lp), (np.array([1, 2, 3, 0]) + 0.5) / 8.0, rtol=1e-12)
    np.testing.assert_allclose(cell_log_prior(quadrants, "uniform"), np.log(0.25), rtol=1e-12)
    d = cell_log_prior(quadrants, "density")
    assert np.exp(d).sum() == pytest.approx(1.0, abs=1e-12) and np.all(np.isfinite(d))
    with pytest.raises(GeolocError, match="unknown prior"):
        cell_log_prior(quadrants, "nope")


def test_density_modes_are_the_fullest_bin(quadrants):
    lat, lon = load_photo_prior()
    m_lat, m_lon, n = density_modes(quadrants, bin_deg=5.0)
    assert n.sum() == len(lat)
    sel = (lat > 0) & (lon > 0) & (lat < 90) & (lon < 180)  # strictly inside NE
    r, c = np.floor((lat[sel] + 90) / 5.0), np.floor((lon[sel] + 180) / 5.0)
    _keys, inv, counts = np.unique(r * 1000 + c, return_inverse=True, return_counts=True)
    best = inv == np.argmax(counts)
    assert m_lat[1] == pytest.approx(lat[sel][best].mean(), abs=1e-9)
    assert m_lon[1] == pytest.approx(lon[sel][best].mean(), abs=1e-9)
