"""Natural Earth administrative boundaries shipped inside the package, and point lookup.

Admin-1: Natural Earth 1:10m "admin 1" (4,596 units in 252 countries; public domain),
simplified at 0.02 degrees. Admin-0 is the dissolve of admin-1 by ``adm0_a3`` so the two
levels are always consistent. Coordinates are WGS84 degrees (EPSG:4326).
"""

from __future__ import annotations

import functools

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoloc.geo.datafiles import data_path
from geoloc.geo.distance import haversine_km

ADMIN1_FILE = "ne_admin1_10m.geojson.gz"
ADMIN1_COLUMNS = ["adm1_code", "iso_3166_2", "name", "admin", "adm0_a3", "iso_a2", "type_en"]


@functools.lru_cache(maxsize=1)
def _admin1_cached() -> gpd.GeoDataFrame:
    path = data_path(ADMIN1_FILE)
    gdf = gpd.read_file(f"/vsigzip/{path}", engine="pyogrio")
    gdf = gdf[[*ADMIN1_COLUMNS, "geometry"]].copy()
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].values)
    # make_valid can produce GeometryCollections; keep only the polygonal part.
    gdf["geometry"] = [_polygonal(g) for g in gdf.geometry.values]
    gdf = gdf[~gdf.geometry.is_empty].reset_index(drop=True)
    gdf["adm0_a3"] = gdf["adm0_a3"].fillna("UNK")
    return gdf.set_crs("EPSG:4326", allow_override=True)


def _polygonal(geom):
    if geom is None:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.unary_union(parts) if parts else shapely.Polygon()


def load_admin1() -> gpd.GeoDataFrame:
    """Admin-1 polygons: columns ``adm1_code, iso_3166_2, name, admin, adm0_a3, iso_a2, type_en, geometry``.

    Invalid geometries are repaired on load. Returns a fresh copy (cheap; cached read).
    """
    return _admin1_cached().copy()


@functools.lru_cache(maxsize=1)
def _admin0_cached() -> gpd.GeoDataFrame:
    a1 = _admin1_cached()
    g = a1.dissolve(by="adm0_a3", aggfunc={"admin": "first", "iso_a2": "first"}).reset_index()
    g["geometry"] = shapely.make_valid(g.geometry.values)
    g["geometry"] = [_polygonal(x) for x in g.geometry.values]
    return g[["adm0_a3", "admin", "iso_a2", "geometry"]]


def load_admin0() -> gpd.GeoDataFrame:
    """Country polygons (dissolved admin-1): columns ``adm0_a3, admin, iso_a2, geometry``."""
    return _admin0_cached().copy()


def lookup_admin(lat, lon, *, max_km: float = 25.0) -> pd.DataFrame:
    """Vectorised point -> (country, admin-1) lookup.

    Parameters
    ----------
    lat, lon : array-like [N] in degrees.
    max_km : points outside every polygon (sea, coast, simplification gaps) take the
        nearest unit when it is within ``max_km`` km; farther points get "none".

    Returns
    -------
    DataFrame [N] with columns ``adm0_a3, country, adm1_code, admin1, iso_a2, index``
    (``index`` is the row in :func:`load_admin1`, -1 for none) and ``distance_km``
    (0 inside a polygon, the approximate distance to the nearest unit otherwise).
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    a1 = _admin1_cached()
    tree = _admin1_tree()
    pts = shapely.points(lon, lat)
    idx = np.full(lat.shape[0], -1, dtype=np.int64)
    dist = np.full(lat.shape[0], np.inf)
    if lat.size:
        p_idx, g_idx = tree.query(pts, predicate="intersects")
        # A point on a shared border matches two units: keep the first (lowest index).
        order = np.lexsort((g_idx, p_idx))
        p_idx, g_idx = p_idx[order], g_idx[order]
        first = np.unique(p_idx, return_index=True)[1]
        idx[p_idx[first]] = g_idx[first]
        dist[p_idx[first]] = 0.0
        missing = np.flatnonzero(idx < 0)
        if missing.size:
            # Nearest in degree space, then the distance converted with the local scale.
            m_idx, n_idx = tree.query_nearest(pts[missing], return_distance=False, all_matches=False)
            nearest_pt = shapely.shortest_line(pts[missing][m_idx], a1.geometry.values[n_idx])
            coords = shapely.get_coordinates(nearest_pt).reshape(-1, 2, 2)
            d = haversine_km(coords[:, 0, 1], coords[:, 0, 0], coords[:, 1, 1], coords[:, 1, 0])
            ok = d <= max_km
            sel = missing[m_idx]
            idx[sel[ok]] = n_idx[ok]
            dist[sel] = d
    found = idx >= 0
    take = np.where(found, idx, 0)
    out = pd.DataFrame(
        {
            "adm0_a3": np.where(found, a1["adm0_a3"].values[take], "none"),
            "country": np.where(found, a1["admin"].values[take], "none"),
            "adm1_code": np.where(found, a1["adm1_code"].values[take], "none"),
            "admin1": np.where(found, a1["name"].values[take], "none"),
            "iso_a2": np.where(found, a1["iso_a2"].values[take], "none"),
            "index": idx,
            "distance_km": dist,
        }
    )
    return out


@functools.lru_cache(maxsize=1)
def _admin1_tree() -> shapely.STRtree:
    return shapely.STRtree(_admin1_cached().geometry.values)
