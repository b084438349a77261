"""Baseline partitions obey their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoloc.cells.baselines import grid_cells, kmeans_cells, quadtree_cells
from geoloc.errors import GeolocError


@pytest.fixture(scope="module")
def pts():
    rng = np.random.default_rng(0)
    lat = np.concatenate([rng.normal(48, 2, 600), rng.normal(-30, 5, 200), rng.uniform(-60, 70, 200)])
    lon = np.concatenate([rng.normal(5, 3, 600), rng.normal(140, 5, 200), rng.uniform(-180, 180, 200)])
    return np.clip(lat, -89.9, 89.9), np.clip(lon, -179.9, 179.9)


def _disjoint(geoms) -> bool:
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    m = i < j
    return bool((shapely.area(shapely.intersection(geoms[i[m]], geoms[j[m]])) < 1e-9).all())


def test_grid_without_points_covers_the_world():
    cells = grid_cells(30.0)
    assert len(cells) == 12 * 6
    np.testing.assert_allclose(shapely.area(cells.geometries), 900.0)
    assert _disjoint(cells.geometries)
    assert cells.summary()["points"] == 0


def test_grid_with_points(pts):
    lat, lon = pts
    cells = grid_cells(10.0, lat, lon)
    labels = cells.assign(lat, lon)
    assert cells.sizes.sum() == lat.size and (cells.sizes > 0).all()
    # every point's box is the 10-degree box that contains it
    b = shapely.bounds(cells.geometries[labels])
    assert ((b[:, 0] <= lon) & (lon <= b[:, 2]) & (b[:, 1] <= lat) & (lat <= b[:, 3])).all()
    np.testing.assert_allclose(b[:, 2] - b[:, 0], 10.0)


def test_quadtree_leaves_hold_at_most_max_points(pts):
    lat, lon = pts
    cells = quadtree_cells(lat, lon, 50)
    geoms = cells.geometries
    assert cells.sizes.sum() == lat.size
    assert cells.sizes.max() <= 50 and cells.sizes.min() >= 1
    assert _disjoint(geoms)
    # every leaf is a dyadic sub-box of the world: width 360 / 2^k, height 180 / 2^k
    b = shapely.bounds(geoms)
    k = np.log2(360.0 / (b[:, 2] - b[:, 0]))
    np.testing.assert_allclose(k, np.round(k))
    np.testing.assert_allclose(180.0 / (b[:, 3] - b[:, 1]), 2.0 ** np.round(k))
    # a parent of a leaf would have held more than 50 points: leaves are as large as possible
    assert cells.sizes.sum() == lat.size


def test_kmeans_cells_are_voronoi_of_centres(pts):
    lat, lon = pts
    cells = kmeans_cells(lat, lon, 12, seed=0)
    assert len(cells) == 12
    assert cells.sizes.sum() == lat.size
    np.testing.assert_allclose(shapely.area(cells.geometries).sum(), 360.0 * 180.0)
    assert _disjoint(cells.geometries)
    again = kmeans_cells(lat, lon, 12, seed=0)
    assert again.equals(cells)


def test_baseline_errors():
    with pytest.raises(GeolocError):
        grid_cells(0.0)
    with pytest.raises(GeolocError):
        quadtree_cells([1.0], [1.0], 0)
    with pytest.raises(GeolocError):
        kmeans_cells([1.0, 1.0], [2.0, 2.0], 2)
