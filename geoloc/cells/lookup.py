"""Point-in-polygon lookup shared by the geocell build and :meth:`GeocellSet.assign`.

Both use the same rule, so the cell a build gives a training point is the cell ``assign``
returns for it: the polygon that intersects the point (the lowest index when a point lies on
a shared border); for a point outside every polygon, the nearest polygon in planar degree
space.

Ties among nearest polygons are common at sea: every point off a coastal corner where two
units meet is equally near to both (the shared vertex). They are broken geometrically, not
by index, so that the rule gives the same answer for admin units and for the cells made from
them: the ray from the point through its nearest boundary point is continued
:data:`PROBE_DEG` degrees into the land, and the polygon nearest to that probe wins (the one
containing it, if any; the lowest index only when the probe is exactly as near to several,
e.g. when it runs along a border).
"""

from __future__ import annotations

import functools

import numpy as np
import shapely

PROBE_DEG = 1e-8
"""How far (degrees) past the nearest boundary point the tie-breaking probe looks."""

DEFAULT_CHUNK = 262_144
"""Points per STRtree query (bounds the memory of the temporary shapely Points)."""


def _first_per_point(p_idx: np.ndarray, g_idx: np.ndarray, out: np.ndarray) -> None:
    """For each point index in ``p_idx`` write the smallest matching ``g_idx`` into ``out``."""
    if p_idx.size == 0:
        return
    order = np.lexsort((g_idx, p_idx))
    p_idx, g_idx = p_idx[order], g_idx[order]
    first = np.flatnonzero(np.r_[True, p_idx[1:] != p_idx[:-1]])
    out[p_idx[first]] = g_idx[first]


class PolygonIndex:
    """Spatial indexes over polygons [P] (lon/lat degrees) for :func:`locate_points`.

    Point-in-polygon tests run with the polygons as *prepared* query geometries against an
    STRtree of the points; nearest-polygon queries run against an STRtree of the polygons'
    boundary segments (distance to a segment is O(1), to a polygon O(vertices)).
    """

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = np.asarray(geoms, dtype=object)

    def __len__(self) -> int:
        return len(self.geoms)

    @functools.cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over the polygons."""
        return shapely.STRtree(self.geoms)

    @functools.cached_property
    def parts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(polygon parts [Q], owner polygon index [Q])``: multipolygons exploded, so that each
        part's bounding box is tight (far-flung islands of one cell do not widen it)."""
        parts, owner = shapely.get_parts(self.geoms, return_index=True)
        shapely.prepare(parts)
        return parts, owner.astype(np.int64)

    @functools.cached_property
    def segments(self) -> tuple[shapely.STRtree, np.ndarray]:
        """``(STRtree over boundary segments, owner polygon index [S])``."""
        parts, part_idx = shapely.get_parts(self.geoms, return_index=True)
        rings, ring_idx = shapely.get_rings(parts, return_index=True)
        coords, c_idx = shapely.get_coordinates(rings, return_index=True)
        same = c_idx[1:] == c_idx[:-1]
        seg = np.stack([coords[:-1][same], coords[1:][same]], axis=1)
        owner = part_idx[ring_idx[c_idx[:-1][same]]].astype(np.int64)
        return shapely.STRtree(shapely.linestrings(seg)), owner

    @functools.cached_property
    def vertex_tree(self):
        """scipy ``cKDTree`` over the end points of the boundary segments (lon, lat degrees)."""
        from scipy.spatial import cKDTree  # lazy: scipy.spatial is slow to import

        seg_tree, _ = self.segments
        coords = shapely.get_coordinates(seg_tree.geometries)
        return cKDTree(coords)


VERTEX_RADIUS_SLACK = 1e-9
"""Relative widening (plus 1e-12 degrees) of the per-point search radius in :func:`nearest_segments`,
so that float rounding in the KD-tree or in GEOS ``dwithin`` never drops a segment at that radius."""

VERTEX_RADIUS_MAX_DEG = 0.5
"""Points farther than this (degrees) from every segment end point use GEOS ``query_nearest`` directly
(bounds the candidate pairs of the fast search, e.g. far at sea or next to very long segments)."""


def nearest_segments(index: PolygonIndex, pts: np.ndarray, lon: np.ndarray, lat: np.ndarray):
    """All boundary segments nearest to each point: ``(point index [K], segment index [K])``.

    The same pairs as ``index.segments[0].query_nearest(pts, all_matches=True)`` (GEOS point-segment
    distances, exact ties), found faster: the distance ``U`` to the nearest segment end point (KD-tree)
    bounds the nearest-segment distance, so only segments within ``U`` (an STRtree ``dwithin`` query
    with a per-point radius) are candidates; their GEOS distances are compared exactly. The answer
    does not rest on the bound: a point with any candidate has its true nearest distance within
    the radius, so all its nearest segments are candidates; a point without any (beyond
    :data:`VERTEX_RADIUS_MAX_DEG`, or missed through rounding) goes to GEOS ``query_nearest``.

    Parameters
    ----------
    pts : [M] shapely Points; lon, lat : [M] their coordinates (degrees).
    """
    seg_tree, _ = index.segments
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    bound, _ = index.vertex_tree.query(np.stack([lon, lat], axis=1), k=1)
    near = np.flatnonzero(bound <= VERTEX_RADIUS_MAX_DEG)
    radius = bound[near] * (1 + VERTEX_RADIUS_SLACK) + 1e-12
    p_idx, s_idx = seg_tree.query(pts[near], predicate="dwithin", distance=radius)
    p_idx = near[p_idx]
    dist = shapely.distance(pts[p_idx], seg_tree.geometries[s_idx])
    best = np.full(len(pts), np.inf)
    np.minimum.at(best, p_idx, dist)
    keep = dist == best[p_idx]
    found = np.zeros(len(pts), dtype=bool)
    found[p_idx[keep]] = True
    p_idx, s_idx = p_idx[keep], s_idx[keep]
    lost = np.flatnonzero(~found)
    if lost.size:  # points beyond VERTEX_RADIUS_MAX_DEG
        q_idx, q_seg = seg_tree.query_nearest(pts[lost], all_matches=True)
        p_idx, s_idx = np.r_[p_idx, lost[q_idx]], np.r_[s_idx, q_seg]
    return p_idx.astype(np.int64), s_idx.astype(np.int64)


def locate_points(
    index: PolygonIndex, lon: np.ndarray, lat: np.ndarray, *, chunk_size: int = DEFAULT_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Polygon index for each point.

    Parameters
    ----------
    index : :class:`PolygonIndex` over polygons (lon/lat degrees).
    lon, lat : [N] degrees.

    Returns
    -------
    ``(index [N] int64, outside [N] bool)``: ``outside`` marks points that intersect no polygon and
    took the nearest one. ``index`` is -1 only when there are no polygons.
    """
    lon = np.asarray(lon, dtype=np.float64).ravel()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    n = lon.size
    idx = np.full(n, -1, dtype=np.int64)
    outside = np.zeros(n, dtype=bool)
    if n == 0 or len(index) == 0:
        outside[:] = True
        return idx, outside
    geoms = index.geoms
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        pts = shapely.points(lon[start:stop], lat[start:stop])
        part = idx[start:stop]
        parts, owner = index.parts
        g_idx, p_idx = shapely.STRtree(pts).query(parts, predicate="intersects")
        _first_per_point(p_idx, owner[g_idx], part)
        miss = np.flatnonzero(part < 0)
        outside[start + miss] = True
        if miss.size:
            _, owner = index.segments
            m_idx, s_idx = nearest_segments(index, pts[miss], lon[start + miss], lat[start + miss])
            cand = np.unique(np.stack([m_idx, owner[s_idx]], axis=1), axis=0)
            m_idx, n_idx = cand[:, 0], cand[:, 1]
            sub = np.full(miss.size, -1, dtype=np.int64)
            _first_per_point(m_idx, n_idx, sub)
            counts = np.bincount(m_idx, minlength=miss.size)
            tied = counts[m_idx] > 1
            if tied.any():
                mt, nt = m_idx[tied], n_idx[tied]
                px, py = lon[start + miss[mt]], lat[start + miss[mt]]
                qx, qy = nearest_points_on(geoms[nt], px, py)
                dx, dy = qx - px, qy - py
                norm = np.hypot(dx, dy)
                norm[norm == 0] = 1.0
                probe = shapely.points(qx + PROBE_DEG * dx / norm, qy + PROBE_DEG * dy / norm)
                # the candidate nearest to the probe wins (0 = the probe is inside it); exact ties
                # (a probe running along a border) go to the lowest index
                dist = shapely.distance(geoms[nt], probe)
                order = np.lexsort((nt, dist, mt))
                mt_o, nt_o = mt[order], nt[order]
                first = np.flatnonzero(np.r_[True, mt_o[1:] != mt_o[:-1]])
                sub[mt_o[first]] = nt_o[first]
            part[miss] = sub
        idx[start:stop] = part
    return idx, outside


def nearest_points_on(geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest point (lon, lat) [N] on ``geoms[i]`` to each point ``(lon[i], lat[i])`` (degrees)."""
    if len(lon) == 0:
        return np.zeros(0), np.zeros(0)
    lines = shapely.shortest_line(shapely.points(lon, lat), geoms)
    xy = shapely.get_coordinates(lines).reshape(-1, 2, 2)[:, 1, :]
    return xy[:, 0].copy(), xy[:, 1].copy()


def snap_inside(
    geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, key: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Points outside ``geoms[i]`` moved just inside it: to the nearest boundary point, then
    :data:`PROBE_DEG` further along the same direction (where that probe lies inside; else the
    boundary point itself). Returns ``(lon, lat)`` [N] degrees.

    Points sharing a boundary point get the same snapped position (the probe follows their
    mean direction; ``key`` [N], e.g. the polygon index, separates groups further). A build clusters outside points (sea, gaps) at these snapped positions, so
    that each one is a Voronoi generator strictly inside its own cell and :func:`locate_points`
    finds that cell as the nearest one for the original point.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    qx, qy = nearest_points_on(geoms, lon, lat)
    if len(qx) == 0:
        return qx, qy
    dx, dy = qx - lon, qy - lat
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    dx, dy = dx / norm, dy / norm
    # Points that share a boundary point (all points off a convex corner share the vertex) must
    # share the snapped position too: use their mean direction (it stays inside the normal cone).
    k = np.zeros(len(qx)) if key is None else np.asarray(key, dtype=np.float64)
    _, group = np.unique(np.stack([qx, qy, k], axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    mx = np.bincount(group, weights=dx)[group]
    my = np.bincount(group, weights=dy)[group]
    mnorm = np.hypot(mx, my)
    mnorm[mnorm == 0] = 1.0
    px, py = qx + PROBE_DEG * mx / mnorm, qy + PROBE_DEG * my / mnorm
    inside = shapely.intersects(geoms, shapely.points(px, py))
    return np.where(inside, px, qx), np.where(inside, py, qy)
