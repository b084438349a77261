"""Baseline partitions for ablations, with the :class:`GeocellSet` interface.

* :func:`grid_cells`: a uniform lat/lon grid of ``deg`` x ``deg`` boxes.
* :func:`quadtree_cells`: OSV-5M-style quadtree: a box is split into its four quadrants while
  it holds more than ``max_points`` points.
* :func:`kmeans_cells`: k-means on (lon, lat) degrees; cells are the (planar) Voronoi regions
  of the centres, so a point's cluster and its polygon always agree.

With training points, ``size`` counts them (:meth:`GeocellSet.assign`, so boundary points
follow the same rule as everywhere) and ``lat``/``lon`` is their mean on the sphere; empty
grid and quadtree boxes are dropped. ``country``/``admin1`` are those of the centroid
(empty at sea).
"""

from __future__ import annotations

import math

import numpy as np

from geoloc.errors import GeolocError

WORLD = (-180.0, -90.0, 180.0, 90.0)


def _frame_from_boxes(geoms: list, kind: str, meta: dict, lat=None, lon=None):
    import geopandas as gpd
    import shapely

    from geoloc.cells.build import _fill_centroids
    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.sphere import grouped_spherical_mean

    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    frame = gpd.GeoDataFrame(
        {"name": [f"{kind} {i}" for i in range(n)], "size": np.zeros(n, dtype=np.int64)},
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    if lat is not None and len(lat):
        tmp = GeocellSet(_with_defaults(frame, np.full(n, np.nan), np.full(n, np.nan)), {"kind": kind})
        labels = tmp.assign(lat, lon)
        frame["size"] = np.bincount(labels, minlength=n)
        clat, clon, _ = grouped_spherical_mean(lat, lon, labels, n)
    else:
        clat, clon = np.full(n, np.nan), np.full(n, np.nan)
    clat, clon = _fill_centroids(clat, clon, shapely.make_valid(geoms))
    frame = _with_defaults(frame, clat, clon)
    admin = lookup_admin(clat, clon)
    for col, src in (
        ("country", "adm0_a3"),
        ("country_name", "country"),
        ("adm1_code", "adm1_code"),
        ("admin1", "admin1"),
    ):
        frame[col] = np.where(admin["index"].to_numpy() >= 0, admin[src].to_numpy(), "")
    return GeocellSet(frame, {"kind": kind, **meta})


def _with_defaults(frame, clat, clon):
    frame = frame.copy()
    for col in ("country", "country_name", "adm1_code", "admin1"):
        if col not in frame:
            frame[col] = ""
    frame["lat"], frame["lon"] = clat, clon
    return frame


def _points(lat, lon):
    from geoloc.geo.validate import check_coordinates

    return check_coordinates(lat, lon, what="training points")


def grid_cells(deg: float, lat=None, lon=None):
    """Uniform grid of ``deg`` x ``deg`` degree boxes (the last row/column is clipped to the world).

    Without points: every box (size 0, centroid = box centre). With points (degrees): only
    boxes holding a point.
    """
    import shapely

    if not deg > 0:
        raise GeolocError(f"grid size must be > 0 degrees, got {deg}")
    nx, ny = math.ceil(360.0 / deg), math.ceil(180.0 / deg)
    if nx * ny > 5_000_000:
        raise GeolocError(f"a {deg}-degree grid has {nx * ny} boxes; use a coarser grid")
    if lat is not None:
        lat, lon = _points(lat, lon)
        ix = np.clip(((lon + 180.0) // deg).astype(np.int64), 0, nx - 1)
        iy = np.clip(((lat + 90.0) // deg).astype(np.int64), 0, ny - 1)
        keys = np.unique(iy * nx + ix)
    else:
        keys = np.arange(nx * ny)
    iy, ix = np.divmod(keys, nx)
    x0 = -180.0 + ix * deg
    y0 = -90.0 + iy * deg
    boxes = shapely.box(x0, y0, np.minimum(x0 + deg, 180.0), np.minimum(y0 + deg, 90.0))
    return _frame_from_boxes(list(boxes), "grid", {"deg": float(deg)}, lat, lon)


def quadtree_cells(lat, lon, max_points: int, *, max_depth: int = 24):
    """Quadtree leaves holding at most ``max_points`` points each (OSV-5M style).

    The world box is split into four equal quadrants while it holds more than ``max_points``
    points and is shallower than ``max_depth`` (a leaf at ``max_depth`` may hold more: many
    identical coordinates). Empty leaves are dropped.
    """
    import shapely

    if int(max_points) < 1:
        raise GeolocError(f"max_points must be >= 1, got {max_points}")
    lat, lon = _points(lat, lon)
    boxes: list[tuple[float, float, float, float]] = []
    stack = [(WORLD, np.arange(lat.size), 0)]
    while stack:
        (x0, y0, x1, y1), idx, depth = stack.pop()
        if idx.size == 0:
            continue
        if idx.size <= max_points or depth >= max_depth:
            boxes.append((x0, y0, x1, y1))
            continue
        xm, ym = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        east = lon[idx] >= xm
        north = lat[idx] >= ym
        for quad, mask in (
            ((xm, ym, x1, y1), east & north),
            ((x0, ym, xm, y1), ~east & north),
            ((xm, y0, x1, ym), east & ~north),
            ((x0, y0, xm, ym), ~east & ~north),
        ):
            stack.append((quad, idx[mask], depth + 1))
    boxes.sort(key=lambda b: (-b[3], b[0], -b[1], b[2]))
    geoms = [shapely.box(*b) for b in boxes]
    return _frame_from_boxes(geoms, "quadtree", {"max_points": int(max_points)}, lat, lon)


def kmeans_cells(lat, lon, k: int, seed: int = 0):
    """``k`` cells: k-means (scikit-learn, ``random_state=seed``) on (lon, lat) degrees, and the
    Voronoi regions of the centres clipped to the world box."""
    import shapely
    from sklearn.cluster import KMeans

    from geoloc.cells.voronoi import voronoi_regions

    lat, lon = _points(lat, lon)
    xy = np.stack([lon, lat], axis=1)
    n_unique = len(np.unique(xy, axis=0))
    if not 1 <= int(k) <= n_unique:
        raise GeolocError(f"k must be between 1 and the number of distinct points ({n_unique}), got {k}")
    km = KMeans(n_clusters=int(k), n_init=3, random_state=int(seed)).fit(xy)
    centres = km.cluster_centers_
    order = np.lexsort((centres[:, 0], -centres[:, 1]))
    centres = centres[order]
    world = shapely.box(*WORLD)
    regions = voronoi_regions(centres, world)
    geoms = [shapely.intersection(r, world) for r in regions]
    return _frame_from_boxes(geoms, "kmeans", {"k": int(k), "seed": int(seed)}, lat, lon)
