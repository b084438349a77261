"""Initial geocells: the finest administrative units available.

* **Admin-1**: Natural Earth admin-1 (:func:`geoloc.geo.boundaries.load_admin1`), made
  overlap-free here (:func:`clean_admin1_geometry`) (the shipped copy is simplified per polygon, so neighbours overlap by
  slivers; each overlap stays with the lower-indexed unit).
* **Pseudo admin-2**: inside one admin-1 polygon, the Voronoi regions of the GeoNames
  gazetteer places (:func:`geoloc.geo.gazetteer.load_places`) dissolved by their admin-2
  name and clipped to the admin-1 polygon. Places are attached to admin-1 polygons
  spatially (GeoNames and Natural Earth admin-1 names differ). An admin-1 unit with fewer
  than two named admin-2 areas stays whole.

All geometry is in lon/lat degrees (EPSG:4326), and all geometric predicates are planar in
degrees, as in the reference implementation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely


def polygonal(geom) -> shapely.Geometry:
    """The polygonal part of a geometry (Polygon/MultiPolygon), or an empty Polygon."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def clean_polygon(geom) -> shapely.Geometry:
    """Valid polygonal geometry (``make_valid`` then the polygonal part)."""
    if geom is None:
        return shapely.Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return polygonal(geom)


@functools.lru_cache(maxsize=1)
def admin1_table():
    """Natural Earth admin-1 GeoDataFrame as shipped (:func:`geoloc.geo.boundaries.load_admin1`), cached."""
    from geoloc.geo.boundaries import load_admin1

    return load_admin1()


@functools.lru_cache(maxsize=1)
def _admin1_index():
    from geoloc.cells.lookup import PolygonIndex

    return PolygonIndex(np.array(admin1_table().geometry.values, dtype=object))


def _admin1_tree() -> shapely.STRtree:
    return _admin1_index().tree


_CLEAN_CACHE: dict[int, shapely.Geometry] = {}


def clean_admin1_geometry(row: int) -> shapely.Geometry:
    """Admin-1 polygon of ``row`` minus every lower-indexed admin-1 polygon that overlaps it.

    The shipped polygons are simplified one by one, so neighbours overlap by slivers; this
    makes the units overlap-free (an overlap stays with the lower index, the same rule as a
    point lookup on a shared border). Cached per process.
    """
    if row in _CLEAN_CACHE:
        return _CLEAN_CACHE[row]
    geoms = admin1_table().geometry.values
    geom = geoms[row]
    earlier = _admin1_tree().query(geom, predicate="intersects")
    earlier = np.sort(earlier[earlier < row])
    if earlier.size:
        geom = clean_polygon(shapely.difference(geom, shapely.union_all(np.asarray(geoms[earlier]))))
    _CLEAN_CACHE[row] = geom
    return geom


@functools.lru_cache(maxsize=1)
def _places_tree() -> tuple[shapely.STRtree, pd.DataFrame]:
    from geoloc.geo.gazetteer import load_places

    places = load_places()
    places = places[places["admin2"] != ""].reset_index(drop=True)
    return shapely.STRtree(shapely.points(places["lon"].to_numpy(), places["lat"].to_numpy())), places


def places_in(polygon) -> pd.DataFrame:
    """Gazetteer places (with an admin-2 name) that intersect ``polygon``: columns of ``load_places``."""
    tree, places = _places_tree()
    hit = np.sort(tree.query(polygon, predicate="intersects"))
    return places.iloc[hit]


_ADMIN2_CACHE: dict[int, list[tuple[str, shapely.Geometry]]] = {}


def pseudo_admin2(a1_row: int) -> list[tuple[str, shapely.Geometry]]:
    """Pseudo admin-2 pieces ``[(name, polygon), ...]`` of one admin-1 unit (row of :func:`admin1_table`).

    The generators are the gazetteer places with an admin-2 name inside the admin-1 polygon;
    pieces are named by that admin-2 name. Returns ``[]`` when the unit has fewer than two
    admin-2 areas (it stays whole). The pieces tile the admin-1 polygon (no gaps, no
    overlaps). Cached per process.
    """
    if a1_row in _ADMIN2_CACHE:
        return _ADMIN2_CACHE[a1_row]
    polygon = clean_admin1_geometry(a1_row)
    result: list[tuple[str, shapely.Geometry]] = []
    if polygon is not None and not polygon.is_empty:
        sel = places_in(polygon)
        if len(sel) >= 2:
            key = sel["admin1"].to_numpy().astype(str) + "\x1f" + sel["admin2"].to_numpy().astype(str)
            xy = np.stack([sel["lon"].to_numpy(), sel["lat"].to_numpy()], axis=1)
            xy, first = np.unique(xy, axis=0, return_index=True)
            key = key[first]
            if np.unique(key).size >= 2:
                result = _voronoi_dissolve(polygon, xy, key)
    _ADMIN2_CACHE[a1_row] = result
    return result


def _voronoi_dissolve(polygon, xy: np.ndarray, key: np.ndarray) -> list[tuple[str, shapely.Geometry]]:
    """Voronoi regions of ``xy`` dissolved by ``key`` and clipped to ``polygon``, sorted by key."""
    from geoloc.cells.voronoi import voronoi_regions

    regions = voronoi_regions(xy, polygon)
    keys, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = np.split(order, bounds)
    merged = np.array(
        [regions[g[0]] if g.size == 1 else shapely.coverage_union_all(regions[g]) for g in groups],
        dtype=object,
    )
    shapely.prepare(polygon)
    inside = shapely.contains(polygon, merged)
    clipped = merged.copy()
    todo = np.flatnonzero(~inside)
    clipped[todo] = shapely.intersection(merged[todo], polygon)
    out = []
    for k, piece in zip(keys, clipped, strict=True):
        piece = clean_polygon(piece)
        if not piece.is_empty and piece.area > 0:
            out.append((str(k).split("\x1f", 1)[1], piece))
    return out


@dataclass
class AdminUnits:
    """Table of initial units (arrays [U]); geometry in lon/lat degrees."""

    geometry: np.ndarray
    country: np.ndarray
    country_name: np.ndarray
    adm1_code: np.ndarray
    admin1: np.ndarray
    name: np.ndarray
    level: np.ndarray  # 1 = whole admin-1 unit, 2 = pseudo admin-2 piece

    def __len__(self) -> int:
        return len(self.geometry)

    @functools.cached_property
    def index(self):
        """:class:`~geoloc.cells.lookup.PolygonIndex` over the unit polygons."""
        from geoloc.cells.lookup import PolygonIndex

        return PolygonIndex(self.geometry)

    @property
    def tree(self) -> shapely.STRtree:
        return self.index.tree


def locate_admin1(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Row of :func:`admin1_table` for each point (inside, else the nearest), [N] int64."""
    from geoloc.cells.lookup import locate_points

    idx, _ = locate_points(_admin1_index(), lon, lat)
    return idx


def build_units(a1_rows: np.ndarray, subdivide: set[int], progress: bool = False) -> AdminUnits:
    """Units for the admin-1 rows ``a1_rows`` (sorted); rows in ``subdivide`` use pseudo admin-2."""
    from tqdm.auto import tqdm

    a1 = admin1_table()
    cols: dict[str, list] = {
        k: [] for k in ("geometry", "country", "country_name", "adm1_code", "admin1", "name", "level")
    }
    for row in tqdm(a1_rows, desc="admin units", unit="admin-1", disable=not progress, leave=False):
        rec = a1.iloc[int(row)]
        pieces = pseudo_admin2(int(row)) if int(row) in subdivide else []
        if not pieces:
            geom = clean_admin1_geometry(int(row))
            if geom is None or geom.is_empty:
                continue
            pieces, level = [(str(rec["name"]), geom)], 1
        else:
            level = 2
        for name, geom in pieces:
            cols["geometry"].append(geom)
            cols["country"].append(str(rec["adm0_a3"]))
            cols["country_name"].append(str(rec["admin"]))
            cols["adm1_code"].append(str(rec["adm1_code"]))
            cols["admin1"].append(str(rec["name"]))
            cols["name"].append(name)
            cols["level"].append(level)
    arrays = {k: np.array(v, dtype=object) for k, v in cols.items()}
    arrays["level"] = np.array(cols["level"], dtype=np.int8)
    geoms = np.empty(len(cols["geometry"]), dtype=object)
    geoms[:] = cols["geometry"]
    arrays["geometry"] = geoms
    return AdminUnits(**arrays)
