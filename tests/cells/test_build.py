"""Invariants of a semantic geocell build on real photo coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoloc.errors import CoordinateError, GeolocError

from .conftest import MAX_SIZE, MIN_SIZE


def test_every_point_in_exactly_one_cell(built, points):
    cells, report = built
    lat, _ = points
    assert report.labels.shape == lat.shape
    assert report.labels.min() >= 0 and report.labels.max() < len(cells)
    assert cells.sizes.sum() == lat.size
    np.testing.assert_array_equal(np.bincount(report.labels, minlength=len(cells)), cells.sizes)


def test_assign_reproduces_build_labels(built, points):
    cells, report = built
    lat, lon = points
    assert report.relabelled == 0
    np.testing.assert_array_equal(cells.assign(lat, lon), report.labels)


def test_sizes_within_bounds_except_listed(built):
    cells, report = built
    exempt = report.exempt_cells
    sizes = cells.sizes
    for i, s in enumerate(sizes):
        if i not in exempt:
            assert MIN_SIZE <= s <= MAX_SIZE, (i, cells.frame.name[i], s)
    assert report.size_violations == []
    for item in report.isolated:
        assert sizes[item["cell"]] < MIN_SIZE
    for item in report.unsplittable:
        assert sizes[item["cell"]] > MAX_SIZE


def test_isolated_island_and_unsplittable_duplicates_are_listed(built):
    cells, report = built
    malta = cells.assign([35.9], [14.5])[0]
    assert cells.frame.country[malta] == "MLT"
    assert malta in {d["cell"] for d in report.isolated}
    assert cells.sizes[malta] == 3
    brussels = cells.assign([50.8466], [4.3528])[0]
    assert brussels in {d["cell"] for d in report.unsplittable}
    assert cells.sizes[brussels] >= 60


def test_polygons_valid_nonempty_and_disjoint(built):
    cells, _ = built
    geoms = cells.geometries
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    m = i < j
    overlap = shapely.area(shapely.intersection(geoms[i[m]], geoms[j[m]]))
    assert overlap.max(initial=0.0) < 1e-9
    assert overlap.sum() < 1e-8


def test_points_on_land_are_covered_by_their_cell(built, points):
    cells, report = built
    lat, lon = points
    geoms = cells.geometries
    pts = shapely.points(lon, lat)
    covered = shapely.intersects(geoms[report.labels], pts)
    union = shapely.union_all(geoms)
    inside_union = shapely.intersects(union, pts)
    # every point inside the union of cells lies in its own cell; the rest are at sea / in gaps
    assert covered[inside_union].all()
    assert (~inside_union).sum() == report.points_outside_polygons


def test_no_land_lost_within_countries(built):
    """The cells of each country cover that country's admin polygons, except dropped empty units."""
    from geoloc.cells.units import admin1_table, clean_admin1_geometry

    cells, _ = built
    a1 = admin1_table()
    for country in ("BEL", "LUX"):
        rows = np.flatnonzero(a1["adm0_a3"].to_numpy() == country)
        land = shapely.union_all([clean_admin1_geometry(int(r)) for r in rows])
        mine = shapely.union_all(cells.geometries[cells.frame.country.to_numpy() == country])
        assert abs(mine.area - land.area) < 1e-6 * land.area + 1e-9
        assert shapely.symmetric_difference(mine, land).area < 1e-6


def test_centroids_are_spherical_means(built, points):
    from geoloc.geo.distance import haversine_km

    cells, report = built
    lat, lon = points
    cent = cells.centroids
    for c in [0, len(cells) // 2, len(cells) - 1]:
        m = report.labels == c
        # the centroid minimises the summed squared chord distance; the plain mean is close by
        d = haversine_km(cent[c, 0], cent[c, 1], lat[m].mean(), lon[m].mean())
        assert d < 5.0


def test_same_seed_same_cells(built, points):
    from geoloc.cells.build import build_geocells

    lat, lon = points
    again, rep = build_geocells(lat, lon, min_size=MIN_SIZE, max_size=MAX_SIZE, seed=3, progress=False)
    assert again.equals(built[0])
    np.testing.assert_array_equal(rep.labels, built[1].labels)


def test_admin1_only_build_and_order_independence(points):
    """Without admin-2 the build still satisfies the invariants; a shuffled input yields the same cells."""
    from geoloc.cells.build import build_geocells

    lat, lon = points
    cells, rep = build_geocells(lat, lon, min_size=MIN_SIZE, max_size=MAX_SIZE, admin2=False, progress=False)
    assert rep.size_violations == [] and rep.relabelled == 0
    assert cells.sizes.sum() == lat.size
    # admin-1 units only (a few shipped units vanish entirely when overlaps are removed)
    assert rep.n_admin1_subdivided == 0 and rep.n_units <= rep.n_admin1
    perm = np.random.default_rng(1).permutation(lat.size)
    shuffled, rep2 = build_geocells(
        lat[perm], lon[perm], min_size=MIN_SIZE, max_size=MAX_SIZE, admin2=False, progress=False
    )
    for col in ("name", "country", "adm1_code", "size"):
        np.testing.assert_array_equal(shuffled.frame[col].to_numpy(), cells.frame[col].to_numpy())
    assert shapely.equals_exact(shuffled.geometries, cells.geometries, tolerance=0.0).all()
    np.testing.assert_allclose(shuffled.centroids, cells.centroids, atol=1e-9)  # summation order only
    np.testing.assert_array_equal(rep2.labels, rep.labels[perm])


def test_bad_input_is_rejected():
    from geoloc.cells.build import build_geocells

    with pytest.raises(CoordinateError, match="row 1"):
        build_geocells([50.0, np.nan], [4.0, 4.0], min_size=1, max_size=2, progress=False)
    with pytest.raises(CoordinateError, match="row 0"):
        build_geocells([95.0], [4.0], min_size=1, max_size=2, progress=False)
    with pytest.raises(GeolocError, match="empty"):
        build_geocells([], [], min_size=1, max_size=2, progress=False)
    with pytest.raises(GeolocError, match="max_size"):
        build_geocells([50.0], [4.0], min_size=5, max_size=2, progress=False)
