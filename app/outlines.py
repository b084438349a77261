"""Country outlines for maps drawn without a tile server.

Decodes the bundled Natural Earth 1:50m TopoJSON (``geoloc/geo/data/ne_countries_50m.topojson``,
object ``countries``) into GeoJSON, simplified for the browser. The decoder follows the TopoJSON
specification: quantised, delta-encoded arcs (``transform``), arc index ``~i`` = arc ``i`` reversed,
and the first point of each following arc dropped when arcs are joined into a ring.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

import geoloc.geo

TOPOJSON_PATH = Path(geoloc.geo.__file__).resolve().parent / "data" / "ne_countries_50m.topojson"
DEFAULT_TOLERANCE_DEG = 0.1


def decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Absolute lon/lat coordinates of every arc: list of [N_i, 2] float64 arrays (degrees)."""
    arcs = topology["arcs"]
    transform = topology.get("transform")
    out = []
    for arc in arcs:
        a = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform is not None:
            a = np.cumsum(a, axis=0) * np.asarray(transform["scale"]) + np.asarray(transform["translate"])
        out.append(a)
    return out


def ring_coordinates(arc_ids: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Join arcs (negative ``~i`` = arc i reversed) into one ring: [N, 2] degrees."""
    parts = []
    for k, i in enumerate(arc_ids):
        a = arcs[~i][::-1] if i < 0 else arcs[i]
        parts.append(a if k == 0 else a[1:])
    return np.concatenate(parts, axis=0)


def geometry_to_geojson(geom: dict[str, Any], arcs: list[np.ndarray]) -> dict[str, Any] | None:
    """One TopoJSON Polygon / MultiPolygon -> GeoJSON geometry (None for empty / other types)."""
    kind = geom.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": [ring_coordinates(r, arcs).tolist() for r in geom["arcs"]]}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon",
                "coordinates": [[ring_coordinates(r, arcs).tolist() for r in poly] for poly in geom["arcs"]]}
    return None


def topojson_to_features(topology: dict[str, Any], object_name: str = "countries") -> list[dict[str, Any]]:
    """GeoJSON Features (``properties``: ``name``, ``id``) of one TopoJSON object."""
    arcs = decode_arcs(topology)
    features = []
    for g in topology["objects"][object_name]["geometries"]:
        geometry = geometry_to_geojson(g, arcs)
        if geometry is None:
            continue
        props = dict(g.get("properties") or {})
        props["id"] = str(g.get("id", ""))
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features


def simplify_feature(feature: dict[str, Any], tolerance_deg: float, decimals: int = 2) -> dict[str, Any] | None:
    """Simplify one Feature's geometry (shapely, topology preserved) and round coordinates;
    None when nothing is left."""
    import shapely
    from shapely.geometry import mapping, shape

    geom = shapely.make_valid(shape(feature["geometry"]))
    if tolerance_deg > 0:
        geom = geom.simplify(tolerance_deg, preserve_topology=True)
    geom = shapely.set_precision(geom, 10.0**-decimals)
    if geom.is_empty:
        return None
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return None
    geom = shapely.union_all(polys) if len(polys) > 1 else polys[0]
    return {"type": "Feature", "geometry": mapping(geom), "properties": feature["properties"]}


@functools.lru_cache(maxsize=4)
def country_outlines(tolerance_deg: float = DEFAULT_TOLERANCE_DEG) -> dict[str, Any]:
    """World country outlines as a GeoJSON FeatureCollection (degrees; cached per tolerance)."""
    topology = json.loads(TOPOJSON_PATH.read_text(encoding="utf-8"))
    features = [simplify_feature(f, tolerance_deg) for f in topojson_to_features(topology)]
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}


__all__ = ["DEFAULT_TOLERANCE_DEG", "TOPOJSON_PATH", "country_outlines", "decode_arcs", "geometry_to_geojson",
           "ring_coordinates", "simplify_feature", "topojson_to_features"]
