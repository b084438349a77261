"""Polygons for a split cell: the Voronoi regions of its points, dissolved by group, clipped.

Given a parent polygon, its points (unique lon/lat locations) and a group label per point
(:func:`geoloc.cells.partition.partition_points`), each group's polygon is the union of its
points' Voronoi regions intersected with the parent. Every point lies strictly inside its own
region, so a point's polygon is always its group's (labels and shapes never disagree), the
pieces tile the parent exactly, and they never overlap.

Fragments (parts of a group's multipolygon that hold none of its points) go to the
neighbouring group that shares the longest border with them; a fragment touching no other
group (an island) stays where it is. No area is ever dropped.
"""

from __future__ import annotations

import numpy as np
import shapely

from geoloc.cells.units import clean_polygon
from geoloc.cells.voronoi import voronoi_regions

_TOUCH_DEG = 1e-9


def split_polygon(polygon, xy: np.ndarray, labels: np.ndarray, n_groups: int) -> tuple[list, int]:
    """Group polygons for unique points ``xy`` [M, 2] (lon, lat degrees) with labels [M] in ``0..n_groups-1``.

    Returns ``(pieces [n_groups], fragments_moved)``; every point of group ``g`` intersects
    ``pieces[g]``, provided it intersects ``polygon``.
    """
    regions = voronoi_regions(xy, polygon)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = np.split(order, bounds)
    merged = np.empty(n_groups, dtype=object)
    merged[:] = shapely.Polygon()
    for g in groups:
        lab = int(labels[g[0]])
        merged[lab] = regions[g[0]] if g.size == 1 else shapely.coverage_union_all(regions[g])
    shapely.prepare(polygon)
    inside = shapely.contains(polygon, merged)
    pieces = merged.copy()
    todo = np.flatnonzero(~inside)
    if todo.size:
        pieces[todo] = shapely.intersection(merged[todo], polygon)
    pieces = np.array([clean_polygon(p) for p in pieces], dtype=object)
    return _move_fragments(pieces, xy, labels)


def _move_fragments(pieces: np.ndarray, xy: np.ndarray, labels: np.ndarray) -> tuple[list, int]:
    multi = [g for g in range(len(pieces)) if pieces[g].geom_type == "MultiPolygon"]
    if not multi:
        return list(pieces), 0
    part_geom, part_label = [], []
    for g in range(len(pieces)):
        parts = shapely.get_parts(pieces[g])
        part_geom.extend(parts)
        part_label.extend([g] * len(parts))
    part_geom = np.array(part_geom, dtype=object)
    part_label = np.array(part_label, dtype=np.int64)
    tree = shapely.STRtree(part_geom)
    p_idx, q_idx = tree.query(shapely.points(xy), predicate="intersects")
    own = part_label[q_idx] == labels[p_idx]
    holds_points = np.zeros(len(part_geom), dtype=bool)
    holds_points[q_idx[own]] = True
    in_multi = np.isin(part_label, multi)
    fragments = np.flatnonzero(in_multi & ~holds_points)
    new_label = part_label.copy()
    moved = 0
    for f in fragments:
        near = tree.query(part_geom[f], predicate="dwithin", distance=_TOUCH_DEG)
        near = near[(part_label[near] != part_label[f]) & holds_points[near]]
        if near.size == 0:
            continue
        shared = shapely.length(
            shapely.intersection(part_geom[f].boundary, shapely.boundary(part_geom[near]))
        )
        best = near[np.lexsort((part_label[near], -shared))[0]]
        new_label[f] = part_label[best]
        moved += 1
    if moved == 0:
        return list(pieces), 0
    out = list(pieces)
    changed = np.unique(np.r_[part_label[new_label != part_label], new_label[new_label != part_label]])
    for g in changed:
        out[g] = clean_polygon(shapely.union_all(part_geom[new_label == g]))
    return out, moved
