"""The fast nearest-segment search gives exactly GEOS ``query_nearest``'s answers, and
``locate_points`` built on it gives exactly the answers of the plain GEOS version."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoloc.cells import lookup
from geoloc.cells.lookup import PolygonIndex, locate_points, nearest_segments


def _pairs(p_idx: np.ndarray, s_idx: np.ndarray) -> np.ndarray:
    return np.unique(np.stack([p_idx, s_idx], axis=1), axis=0)


def _hard_points(index: PolygonIndex, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices, segment midpoints, points just off vertices (sea corners), and random points
    around and far from the polygons (degrees)."""
    seg_tree, _ = index.segments
    coords = shapely.get_coordinates(seg_tree.geometries).reshape(-1, 2, 2)
    pick = rng.choice(len(coords), size=min(n, len(coords)), replace=True)
    verts = coords[pick, 0]
    mids = coords[pick].mean(axis=1)
    off = verts + rng.normal(scale=[1e-3, 1e-3], size=verts.shape)
    off_far = verts + rng.normal(scale=[0.05, 0.05], size=verts.shape)
    x0, y0, x1, y1 = shapely.total_bounds(index.geoms)
    box = np.stack([rng.uniform(x0 - 1, x1 + 1, n), rng.uniform(y0 - 1, y1 + 1, n)], axis=1)
    far = np.stack([rng.uniform(-180, 180, n // 20), rng.uniform(-90, 90, n // 20)], axis=1)
    xy = np.concatenate([verts, mids, off, off_far, box, far])
    return xy[:, 0], xy[:, 1]


def test_nearest_segments_equal_geos_query_nearest(built):
    cells, _ = built
    index = PolygonIndex(cells.geometries)
    lon, lat = _hard_points(index, np.random.default_rng(0), 20_000)
    pts = shapely.points(lon, lat)
    seg_tree, _ = index.segments
    fast = _pairs(*nearest_segments(index, pts, lon, lat))
    ref = _pairs(*seg_tree.query_nearest(pts, all_matches=True))
    assert np.array_equal(fast, ref)
    # ties (several nearest segments) and far points (GEOS fallback) are both exercised
    assert len(ref) > len(pts)
    bound, _ = index.vertex_tree.query(np.stack([lon, lat], axis=1))
    assert (bound > lookup.VERTEX_RADIUS_MAX_DEG).any() and (bound <= lookup.VERTEX_RADIUS_MAX_DEG).any()


def _geos_nearest(index, pts, lon, lat):
    seg_tree, _ = index.segments
    return seg_tree.query_nearest(pts, all_matches=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_locate_points_unchanged_on_200k_points(built, points, monkeypatch, seed):
    """200k points (hard points, jittered training points, uniform sea) locate exactly as with
    the plain GEOS nearest search."""
    cells, _ = built
    rng = np.random.default_rng(seed)
    index = PolygonIndex(cells.geometries)
    hl, ht = _hard_points(index, rng, 25_000)
    lat, lon = points
    k = 200_000 - hl.size
    j = rng.integers(0, lat.size, k)
    qlon = np.concatenate([hl, lon[j] + rng.normal(scale=0.05, size=k)])
    qlat = np.concatenate([ht, lat[j] + rng.normal(scale=0.05, size=k)])
    qlon, qlat = np.clip(qlon, -180, 180), np.clip(qlat, -90, 90)
    fast_idx, fast_out = locate_points(index, qlon, qlat)
    monkeypatch.setattr(lookup, "nearest_segments", _geos_nearest)
    ref_idx, ref_out = locate_points(PolygonIndex(cells.geometries), qlon, qlat)
    assert np.array_equal(fast_out, ref_out)
    assert np.array_equal(fast_idx, ref_idx)
    assert 0.05 < fast_out.mean() < 0.95  # both the inside and the sea path ran


def test_assign_training_points_equal_build_labels(built, points):
    cells, report = built
    lat, lon = points
    assert np.array_equal(cells.assign(lat, lon), report.labels)
