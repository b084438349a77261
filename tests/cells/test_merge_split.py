"""Merging in PIGEON's order on a toy map, and Voronoi polygons for split cells."""

from __future__ import annotations

import numpy as np
import shapely

from geoloc.cells.lookup import PolygonIndex, locate_points
from geoloc.cells.merge import merge_small_cells
from geoloc.cells.split import split_polygon


def _grid_units(nx: int, ny: int) -> np.ndarray:
    geoms = np.empty(nx * ny, dtype=object)
    geoms[:] = [shapely.box(x, y, x + 1, y + 1) for y in range(ny) for x in range(nx)]
    return geoms


def test_small_cell_joins_largest_neighbour_in_same_admin1():
    # 3 x 1 strip: units 0, 1 in admin-1 "A", unit 2 in admin-1 "B"; all one country
    geoms = _grid_units(3, 1)
    res = merge_small_cells(
        np.array([5, 100, 200]), np.array(["X"] * 3), np.array(["A", "A", "B"]), geoms, min_size=10
    )
    # unit 0 (5 points) prefers its admin-1 neighbour (unit 1) over the larger unit 2
    assert sorted(map(sorted, res.members)) == [[0, 1], [2]]
    assert res.merges == 1 and res.isolated == []


def test_small_neighbours_first_then_largest():
    # 2 x 2 block in one admin-1: unit 0 (3 pts) touches 1 (4 pts, small) and 2 (50), 3 (60) touches both
    geoms = _grid_units(2, 2)
    res = merge_small_cells(
        np.array([3, 4, 50, 60]), np.array(["X"] * 4), np.array(["A"] * 4), geoms, min_size=10
    )
    # 0 (smallest) merges into its small neighbour 1 -> 7 points, still small -> joins the largest
    # neighbour (3, 60 points, which touches 1)
    sizes = sorted(res.size)
    assert sizes == [50, 67]
    assert [0, 1, 3] in [sorted(m) for m in res.members]


def test_no_merge_across_countries_unless_allowed():
    geoms = _grid_units(2, 1)
    args = (np.array([3, 100]), np.array(["X", "Y"]), np.array(["A", "B"]), geoms)
    res = merge_small_cells(*args, min_size=10)
    assert len(res.members) == 2 and len(res.isolated) == 1
    assert res.size[res.isolated[0]] == 3
    res = merge_small_cells(*args, min_size=10, cross_country=True)
    assert len(res.members) == 1 and res.cross_country_merges == 1


def test_island_found_by_dilation_and_empty_far_unit_dropped():
    geoms = np.empty(4, dtype=object)
    geoms[:] = [
        shapely.box(0, 0, 4, 4),  # mainland, 100 points
        shapely.box(4.2, 0, 4.7, 0.5),  # small island 0.2 deg offshore, 2 points: reached by 2x dilation
        shapely.box(40, 40, 40.1, 40.1),  # far empty islet: dropped
        shapely.box(-30, 0, -29.9, 0.1),  # far islet with points: isolated
    ]
    res = merge_small_cells(
        np.array([100, 2, 0, 4]), np.array(["X"] * 4), np.array(["A", "B", "C", "D"]), geoms, min_size=10
    )
    assert [0, 1] in res.members
    assert res.dropped_units == [2]
    assert [res.members[i] for i in res.isolated] == [[3]]
    assert sum(res.size) == 106


def test_split_polygon_tiles_parent_and_agrees_with_labels():
    rng = np.random.default_rng(0)
    parent = shapely.Polygon([(0, 0), (10, 0), (10, 10), (6, 10), (6, 3), (4, 3), (4, 10), (0, 10)])  # a "U"
    xy = rng.uniform(0, 10, (400, 2))
    xy = xy[shapely.contains_xy(parent, xy[:, 0], xy[:, 1])]
    labels = (xy[:, 0] > 5).astype(np.int64) + 2 * (xy[:, 1] > 6).astype(np.int64)
    pieces, _ = split_polygon(parent, xy, labels, 4)
    pieces = np.array(pieces, dtype=object)
    assert shapely.is_valid(pieces).all()
    np.testing.assert_allclose(sum(p.area for p in pieces), parent.area, rtol=1e-9)
    assert shapely.union_all(pieces).symmetric_difference(parent).area < 1e-9
    for a in range(4):
        for b in range(a + 1, 4):
            assert shapely.intersection(pieces[a], pieces[b]).area < 1e-12
    idx, outside = locate_points(PolygonIndex(pieces), xy[:, 0], xy[:, 1])
    assert not outside.any()
    np.testing.assert_array_equal(idx, labels)


def test_fragment_without_points_moves_to_neighbour():
    # A "C"-shaped parent: group 0 sits in the left spine, group 1 at the bottom right. Group 1's Voronoi
    # region also covers the far end of the top arm, a part without any of its points that touches
    # only group 0: it must move to group 0.
    parent = shapely.union_all([shapely.box(0, 0, 10, 1), shapely.box(0, 1, 1, 9), shapely.box(0, 9, 10, 10)])
    xy = np.array([[0.5, 5.0], [0.5, 2.0], [9.5, 0.5], [9.0, 0.5], [8.0, 0.5]])
    labels = np.array([0, 0, 1, 1, 1])
    pieces, moved = split_polygon(parent, xy, labels, 2)
    assert moved >= 1
    assert pieces[0].intersects(shapely.Point(9.5, 9.5))
    assert pieces[0].geom_type == "Polygon" and pieces[1].geom_type == "Polygon"
    np.testing.assert_allclose(pieces[0].area + pieces[1].area, parent.area, rtol=1e-9)


def test_sea_tie_broken_towards_the_land_the_ray_enters():
    # two squares sharing the edge x = 1: points due north of the shared corner (1, 1) are equally
    # near to both; the ray from the point through (1, 1) decides
    geoms = np.empty(2, dtype=object)
    geoms[:] = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    tree = PolygonIndex(geoms)
    # slightly west / east of the border are not ties; exactly north the probe runs along the border
    # (inside both) and the lowest index wins
    idx, outside = locate_points(tree, np.array([0.999999, 1.000001, 1.0]), np.array([3.0, 3.0, 3.0]))
    assert outside.all()
    assert idx.tolist() == [0, 1, 0]
    # south-east of the corner (2, 0) only the right square is nearest
    far_idx, _ = locate_points(tree, np.array([3.0]), np.array([-1.5]))
    assert far_idx.tolist() == [1]
    # sea points off a coastal corner (1, 2) where two units meet: equidistant to both; the ray from
    # (1.3, 3) through the corner continues to the west of the border x = 1, into unit 0
    geoms2 = np.empty(2, dtype=object)
    geoms2[:] = [
        shapely.Polygon([(0, 0), (1, 0), (1, 2), (0, 1)]),
        shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 2)]),
    ]
    idx2, out2 = locate_points(PolygonIndex(geoms2), np.array([1.3, 0.7]), np.array([3.0, 3.0]))
    assert out2.all() and idx2.tolist() == [0, 1]
