"""Natural Earth administrative boundaries shipped inside the package, and point lookup.

Admin-1: Natural Earth 1:10m "admin 1" (4,596 units in 252 countries; public domain),
simplified at 0.02 degrees. Admin-0 is the dissolve of admin-1 by ``adm0_a3`` so the two
levels are always consistent. Coordinates are WGS84 degrees (EPSG:4326).
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoloc.errors import CoordinateError
from geoloc.geo.datafiles import data_path
from geoloc.geo.validate import check_coordinates, invalid_coordinate_mask

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


LOOKUP_COLUMNS = ["adm0_a3", "country", "adm1_code", "admin1", "iso_3166_2", "iso_a2", "index", "distance_km"]
ISO_3166_2 = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
"""An official ISO 3166-2 subdivision code. Natural Earth marks units without one by codes such as
``SY-X01~`` or ``-99-X16~``: those are not shown to users."""


def official_iso_3166_2(code: object) -> str:
    """``code`` when it is an official ISO 3166-2 code, else "" (Natural Earth's placeholders)."""
    text = str(code) if code is not None else ""
    return text if ISO_3166_2.match(text) else ""


@functools.lru_cache(maxsize=1)
def _admin1_attributes() -> pd.DataFrame:
    """The admin-1 table without its polygons (``ADMIN1_COLUMNS``): what name and code lookups need.
    Reading it skips the geometries (measured: 16 MB and 0.5 s instead of 65 MB for the polygons),
    so loading a model for prediction does not load every admin-1 boundary."""
    import pyogrio

    if _admin1_cached.cache_info().currsize:  # the polygons are loaded already: reuse their table
        return pd.DataFrame(_admin1_cached()[ADMIN1_COLUMNS])
    df = pyogrio.read_dataframe(f"/vsigzip/{data_path(ADMIN1_FILE)}", columns=ADMIN1_COLUMNS, read_geometry=False)
    df["adm0_a3"] = df["adm0_a3"].fillna("UNK")
    return df


def admin1_names(adm1_codes: list[str]) -> list[tuple[str, str]]:
    """(name, ISO 3166-2 code or "") of each Natural Earth ``adm1_code`` (("", "") for unknown codes)."""
    a1 = _admin1_attributes()
    table = dict(zip(a1["adm1_code"].astype(str),
                     zip(a1["name"].astype(str), a1["iso_3166_2"].map(official_iso_3166_2), strict=True),
                     strict=True))
    return [table.get(str(c), ("", "")) for c in adm1_codes]


def country_alpha2(adm0_a3: list[str]) -> list[str]:
    """ISO 3166-1 alpha-2 of each alpha-3 code ("" for unknown codes and Natural Earth's "-99")."""
    a1 = _admin1_attributes()
    table = dict(zip(a1["adm0_a3"].astype(str), a1["iso_a2"].astype(str), strict=True))
    return [x if len(x := table.get(str(c), "")) == 2 and x.isalpha() else "" for c in adm0_a3]
"""Columns of :func:`lookup_admin`."""

NONE = "none"
"""Label of points that fall in no unit (open sea, Antarctic gaps, invalid rows)."""

_KM_PER_DEG = 111.19492664455873  # pi * 6371.0088 / 180


def lookup_admin(
    lat,
    lon,
    *,
    max_km: float = 25.0,
    invalid: Literal["raise", "none"] = "raise",
    chunk_size: int = 250_000,
) -> pd.DataFrame:
    """Vectorised point -> (country, admin-1) lookup.

    Parameters
    ----------
    lat, lon : scalar or array-like [N], degrees.
    max_km : points outside every polygon (sea, coasts, gaps left by the 0.02 degree
        simplification) take the nearest unit whose boundary is within ``max_km`` km (measured to
        the closest boundary point in a local equirectangular projection, < 0.1 % from the
        great-circle distance at these ranges); farther points get "none".
        ``max_km=0`` disables the fallback.
    invalid : what to do with NaN / infinite / out-of-range rows: ``"raise"`` (default) raises
        :class:`~geoloc.errors.CoordinateError` naming them; ``"none"`` labels them "none" with
        ``index`` -2 and ``distance_km`` NaN, so batch jobs can count and report them.
    chunk_size : points per internal batch (bounds memory).

    Returns
    -------
    DataFrame [N] with columns ``adm0_a3, country, adm1_code, admin1, iso_3166_2, iso_a2, index,
    distance_km``: ``admin1`` is the unit's name, ``iso_3166_2`` its official code or "" where Natural
    Earth has none, ``adm1_code`` Natural Earth's internal id; ``index`` is the row in :func:`load_admin1` (-1 for none, -2 for invalid),
    ``distance_km`` is 0 inside a polygon, the distance to the unit taken by the fallback, and
    inf for "none" (NaN for invalid rows).
    A point on a border shared by two units (or in a sliver where simplified neighbours overlap)
    takes the unit with the lowest index.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise CoordinateError(f"lookup_admin: {lat.size} latitudes but {lon.size} longitudes")
    bad = invalid_coordinate_mask(lat, lon)
    if invalid == "raise":
        check_coordinates(lat, lon, what="lookup_admin")
    elif invalid != "none":
        raise ValueError(f"invalid must be 'raise' or 'none', got {invalid!r}")
    n = lat.size
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    good = np.flatnonzero(~bad)
    for s in range(0, good.size, max(1, chunk_size)):
        rows = good[s : s + chunk_size]
        idx[rows], dist[rows] = _lookup_valid(lat[rows], lon[rows], max_km)
    idx[bad] = -2
    dist[bad] = np.nan
    return _label_frame(idx, dist)


def _label_frame(idx: np.ndarray, dist: np.ndarray) -> pd.DataFrame:
    a1 = _admin1_cached()
    found = idx >= 0
    take = np.where(found, idx, 0)

    def col(name: str) -> np.ndarray:
        return np.where(found, a1[name].to_numpy(dtype=object)[take], NONE)

    return pd.DataFrame(
        {
            "adm0_a3": col("adm0_a3"),
            "country": col("admin"),
            "adm1_code": col("adm1_code"),
            "admin1": col("name"),
            "iso_3166_2": np.array([official_iso_3166_2(x) if f else NONE
                                    for x, f in zip(col("iso_3166_2"), found, strict=True)], dtype=object),
            "iso_a2": col("iso_a2"),
            "index": idx,
            "distance_km": dist,
        }
    )


def _lookup_valid(lat: np.ndarray, lon: np.ndarray, max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit index [n] (-1 none) and distance [n] km for valid points."""
    geoms = _admin1_prepared()
    tree = _admin1_tree()
    n = lat.size
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if n == 0:
        return idx, dist
    # Bounding-box candidates from the tree, then an exact (prepared) point-in-polygon test.
    p_idx, g_idx = tree.query(shapely.points(lon, lat))
    hit = shapely.intersects_xy(geoms[g_idx], lon[p_idx], lat[p_idx])
    p_idx, g_idx = p_idx[hit], g_idx[hit]
    # Lowest unit index wins where a point is inside two (shared border, overlapping slivers).
    order = np.lexsort((g_idx, p_idx))
    p_idx, g_idx = p_idx[order], g_idx[order]
    first = np.unique(p_idx, return_index=True)[1]
    idx[p_idx[first]] = g_idx[first]
    dist[p_idx[first]] = 0.0
    missing = np.flatnonzero(idx < 0)
    if missing.size and max_km > 0:
        m_idx, m_dist = _nearest_units(lat[missing], lon[missing], max_km)
        ok = (m_idx >= 0) & (m_dist <= max_km)
        idx[missing[ok]] = m_idx[ok]
        dist[missing[ok]] = m_dist[ok]
    return idx, dist


def _nearest_units(lat: np.ndarray, lon: np.ndarray, radius_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest unit [n] (-1 if none) within ``radius_km`` and its distance [n] km (inf if none).

    Candidates are the boundary segments (of every ring of every unit) whose bounding box meets
    a lat/lon box around the point that contains the ``radius_km`` circle (wider in longitude by
    1/cos(lat); longitudes are wrapped, so the antimeridian is handled). The distance to each
    candidate segment is measured in a local equirectangular projection centred on the point
    (error < 0.1 % within a few hundred km); the closest segment's unit wins (ties: lowest unit).
    """
    tree, x0, y0, x1, y1, unit = _admin1_segments()
    n = lat.size
    best = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.inf)
    if n == 0:
        return best, best_d
    dlat = radius_km / _KM_PER_DEG
    coslat = np.maximum(np.cos(np.radians(lat)), 1e-3)
    dlon = np.minimum(dlat / coslat, 180.0)
    for shift in (0.0, -360.0, 360.0):
        plon = lon + shift
        sel = np.flatnonzero((plon - dlon <= 180.0) & (plon + dlon >= -180.0))
        if sel.size == 0:
            continue
        boxes = shapely.box(plon[sel] - dlon[sel], lat[sel] - dlat, plon[sel] + dlon[sel], lat[sel] + dlat)
        b_idx, s_idx = tree.query(boxes)
        if b_idx.size == 0:
            continue
        if np.any(b_idx[1:] < b_idx[:-1]):  # group pairs by box (STRtree returns them grouped)
            order = np.argsort(b_idx, kind="stable")
            b_idx, s_idx = b_idx[order], s_idx[order]
        rows = sel[b_idx]
        # Local km coordinates of the segment ends relative to the point.
        kx = _KM_PER_DEG * coslat[rows]
        ax, ay = (x0[s_idx] - plon[rows]) * kx, (y0[s_idx] - lat[rows]) * _KM_PER_DEG
        bx, by = (x1[s_idx] - plon[rows]) * kx, (y1[s_idx] - lat[rows]) * _KM_PER_DEG
        ex, ey = bx - ax, by - ay
        length2 = ex * ex + ey * ey
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(length2 > 0, -(ax * ex + ay * ey) / length2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        d = np.hypot(ax + t * ex, ay + t * ey)
        g = unit[s_idx]
        # tree.query returns pairs grouped by box (sorted by input index): reduce per group.
        starts = np.flatnonzero(np.r_[True, b_idx[1:] != b_idx[:-1]])
        dd = np.minimum.reduceat(d, starts)
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, d.size]))
        gg = np.minimum.reduceat(np.where(d == dd[group], g, np.iinfo(np.int64).max), starts)
        r = rows[starts]
        better = (dd <= radius_km) & (dd < best_d[r])
        best[r[better]] = gg[better]
        best_d[r[better]] = dd[better]
    return best, best_d


@functools.lru_cache(maxsize=1)
def _admin1_segments():
    """Boundary segments of all admin-1 rings: STRtree over them, end points ``x0, y0, x1, y1``
    [S] (degrees) and the unit index [S] of each segment."""
    geoms = np.asarray(_admin1_cached().geometry)
    parts, part_unit = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    x0, y0 = xy[:-1, 0][same], xy[:-1, 1][same]
    x1, y1 = xy[1:, 0][same], xy[1:, 1][same]
    unit = part_unit[ring_part[ring_of[:-1][same]]].astype(np.int64)
    lines = shapely.linestrings(np.stack([np.stack([x0, y0], -1), np.stack([x1, y1], -1)], axis=1))
    return shapely.STRtree(lines), x0, y0, x1, y1, unit


@functools.lru_cache(maxsize=1)
def _admin1_prepared() -> np.ndarray:
    geoms = _admin1_cached().geometry.values.copy()
    shapely.prepare(geoms)
    return geoms


@functools.lru_cache(maxsize=1)
def _admin1_tree() -> shapely.STRtree:
    return shapely.STRtree(_admin1_cached().geometry.values)
