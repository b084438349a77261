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


def unwrap_ring(ring: np.ndarray) -> np.ndarray:
    """Make a ring's longitudes continuous (no jump over 180 degrees between neighbours): [N, 2] degrees,
    longitudes possibly outside [-180, 180]. A ring that circles a pole (net longitude change of
    +-360) is closed through that pole, so it bounds the polar cap on the plane."""
    ring = np.asarray(ring, dtype=np.float64)
    lon = ring[:, 0]
    step = np.diff(lon)
    step = (step + 180.0) % 360.0 - 180.0
    out = np.column_stack([np.concatenate([[lon[0]], lon[0] + np.cumsum(step)]), ring[:, 1]])
    net = out[-1, 0] - out[0, 0]
    if abs(net) > 180.0:  # encircles a pole: close via the pole on the side of the ring's mean latitude
        pole = -90.0 if out[:, 1].mean() < 0 else 90.0
        out = np.vstack([out, [[out[-1, 0], pole], [out[0, 0], pole]], out[:1]])
    return out


def planar_geometry(geometry: dict[str, Any]):
    """A GeoJSON Polygon / MultiPolygon on the sphere (rings may cross the antimeridian, as in
    world-atlas, which d3 cuts at draw time) -> a shapely geometry cut at +-180 degrees for a flat map."""
    import shapely
    from shapely.geometry import Polygon, box

    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    pieces = []
    for rings in polys:
        rings = [unwrap_ring(np.asarray(r)) for r in rings]
        shell = rings[0]
        holes = []
        for h in rings[1:]:  # holes follow their shell across the antimeridian
            shift = 360.0 * np.round((shell[:, 0].mean() - h[:, 0].mean()) / 360.0)
            holes.append(h + np.array([shift, 0.0]))
        poly = shapely.make_valid(Polygon(shell, holes))
        for k in (-1, 0, 1):  # bring the parts beyond +-180 back onto the map
            part = poly.intersection(box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0))
            if not part.is_empty:
                pieces.append(shapely.affinity.translate(part, xoff=-360.0 * k))
    polys_only = [g for p in pieces for g in getattr(p, "geoms", [p]) if g.geom_type == "Polygon" and g.area > 0]
    return shapely.MultiPolygon(polys_only) if polys_only else shapely.Polygon()


def simplify_feature(feature: dict[str, Any], tolerance_deg: float, decimals: int = 2) -> dict[str, Any] | None:
    """Simplify one Feature's geometry (shapely, topology preserved) and round coordinates;
    None when nothing is left."""
    import shapely
    from shapely.geometry import mapping

    geom = planar_geometry(feature["geometry"])
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


__all__ = [
    "DEFAULT_TOLERANCE_DEG",
    "TOPOJSON_PATH",
    "country_outlines",
    "decode_arcs",
    "geometry_to_geojson",
    "planar_geometry",
    "ring_coordinates",
    "simplify_feature",
    "topojson_to_features",
    "unwrap_ring",
]
