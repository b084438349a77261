"""Bounded Voronoi tessellations clipped to a polygon (planar, lon/lat degrees)."""

from __future__ import annotations

import numpy as np
import shapely


def voronoi_regions(xy: np.ndarray, polygon) -> np.ndarray:
    """Voronoi regions [M] (shapely Polygons) of distinct generator points ``xy`` [M, 2].

    ``regions[i]`` is the region of ``xy[i]``; together they cover the bounding box of
    ``polygon`` and of the points (extended by 1 degree), so clipping them to ``polygon``
    loses no area. Uses GEOS (``shapely.voronoi_polygons`` with ``ordered=True``); if GEOS
    merges near-coincident generators, regions are matched to points spatially.
    """
    xy = np.asarray(xy, dtype=np.float64)
    m = len(xy)
    minx, miny, maxx, maxy = shapely.bounds(polygon)
    minx, miny = min(minx, xy[:, 0].min()), min(miny, xy[:, 1].min())
    maxx, maxy = max(maxx, xy[:, 0].max()), max(maxy, xy[:, 1].max())
    extent = shapely.box(minx - 1.0, miny - 1.0, maxx + 1.0, maxy + 1.0)
    if m == 1:
        return np.array([extent], dtype=object)
    vor = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=extent, ordered=True)
    regions = shapely.get_parts(vor)
    if len(regions) == m:
        return regions
    tree = shapely.STRtree(regions)
    p_idx, r_idx = tree.query(shapely.points(xy), predicate="intersects")
    out = np.empty(m, dtype=object)
    order = np.lexsort((r_idx, p_idx))
    p_idx, r_idx = p_idx[order], r_idx[order]
    first = np.flatnonzero(np.r_[True, p_idx[1:] != p_idx[:-1]])
    out[:] = shapely.Polygon()
    out[p_idx[first]] = regions[r_idx[first]]
    return out
