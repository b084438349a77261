"""Country outlines for the guess map, from the shipped Natural Earth TopoJSON, simplified.

:func:`world_outlines` decodes ``geoloc/geo/data/ne_countries_50m.topojson`` (quantised,
delta-encoded arcs) into rings of (lon, lat) degrees, thins each ring (a vertex is kept when it
lies at least ``tolerance_deg`` from the last kept one; ring ends are kept) and drops rings
smaller than that. The page's own JS draws them in Web Mercator on a canvas; no tile server.
The served JSON is ``{"rings": [[lon0, lat0, lon1, lat1, ...], ...]}`` with 2-decimal degrees.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from geoloc.geo.datafiles import data_path

TOPOJSON_NAME = "ne_countries_50m.topojson"


def _decode_arcs(topo: dict) -> list[np.ndarray]:
    """Absolute (lon, lat) degree arrays [k, 2] of every arc."""
    scale = np.asarray(topo["transform"]["scale"], dtype=np.float64)
    translate = np.asarray(topo["transform"]["translate"], dtype=np.float64)
    return [np.cumsum(np.asarray(a, dtype=np.float64).reshape(-1, 2), axis=0) * scale + translate
            for a in topo["arcs"]]


def _ring(arcs: list[np.ndarray], refs: list[int]) -> np.ndarray:
    """Join arc references (``~i`` = arc ``i`` reversed) into one ring [k, 2], shared ends once."""
    parts = []
    for j, ref in enumerate(refs):
        pts = arcs[ref] if ref >= 0 else arcs[~ref][::-1]
        parts.append(pts if j == 0 else pts[1:])
    return np.concatenate(parts, axis=0)


def thin_ring(ring: np.ndarray, tolerance_deg: float) -> np.ndarray:
    """Keep the first vertex, then each vertex at least ``tolerance_deg`` (max-norm, degrees) from
    the last kept one, and the last vertex. Returns [m, 2] with m <= k."""
    keep = [0]
    last = ring[0]
    for i in range(1, len(ring) - 1):
        if np.max(np.abs(ring[i] - last)) >= tolerance_deg:
            keep.append(i)
            last = ring[i]
    if len(ring) > 1:
        keep.append(len(ring) - 1)
    return ring[keep]


def outline_rings(tolerance_deg: float = 0.25) -> list[np.ndarray]:
    """Simplified outer and inner rings of every country (list of [k, 2] (lon, lat) arrays)."""
    with open(data_path(TOPOJSON_NAME), encoding="utf-8") as fh:
        topo = json.load(fh)
    arcs = _decode_arcs(topo)
    rings = []
    for geom in topo["objects"]["countries"]["geometries"]:
        polys = {"Polygon": [geom.get("arcs", [])], "MultiPolygon": geom.get("arcs", [])}.get(geom["type"], [])
        for poly in polys:
            for refs in poly:
                ring = thin_ring(_ring(arcs, refs), tolerance_deg)
                span = ring.max(axis=0) - ring.min(axis=0)
                if len(ring) >= 4 and span.max() >= tolerance_deg:
                    rings.append(ring)
    return rings


@lru_cache(maxsize=4)
def world_outlines_json(tolerance_deg: float = 0.25) -> bytes:
    """The served outline file (UTF-8 JSON bytes), built once per tolerance."""
    rings = [np.round(r, 2).ravel().tolist() for r in outline_rings(tolerance_deg)]
    return json.dumps({"rings": rings, "source": "Natural Earth 1:50m via world-atlas (public domain)"},
                      separators=(",", ":")).encode()
