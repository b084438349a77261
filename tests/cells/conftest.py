"""Shared fixtures for geocell tests: a small real point set and one build of it."""

from __future__ import annotations

import numpy as np
import pytest

MIN_SIZE, MAX_SIZE = 20, 40


def benelux_points() -> tuple[np.ndarray, np.ndarray]:
    """~1,600 real Flickr photo coordinates around Belgium/Netherlands/Luxembourg (degrees), plus
    points at sea off the Dutch coast, 60 copies of one location, and 3 points on Malta (an
    island country that can only be an isolated cell)."""
    from geoloc.geo.density import load_photo_prior

    lat, lon = load_photo_prior()
    m = (lon > 2.5) & (lon < 7.5) & (lat > 49.4) & (lat < 53.7)
    rng = np.random.default_rng(0)
    keep = np.flatnonzero(m)
    keep = keep[rng.random(keep.size) < 0.5]
    lat, lon = lat[keep].astype(np.float64), lon[keep].astype(np.float64)
    sea_lat = rng.uniform(52.2, 53.2, 25)
    sea_lon = rng.uniform(3.0, 4.2, 25)
    dup_lat, dup_lon = np.full(60, 50.8466), np.full(60, 4.3528)  # Grand-Place, Brussels
    malta_lat, malta_lon = np.array([35.90, 35.89, 35.91]), np.array([14.50, 14.49, 14.51])
    return (
        np.concatenate([lat, sea_lat, dup_lat, malta_lat]),
        np.concatenate([lon, sea_lon, dup_lon, malta_lon]),
    )


@pytest.fixture(scope="session")
def points():
    return benelux_points()


@pytest.fixture(scope="session")
def built(points):
    from geoloc.cells.build import build_geocells

    lat, lon = points
    return build_geocells(lat, lon, min_size=MIN_SIZE, max_size=MAX_SIZE, seed=3, progress=False)
