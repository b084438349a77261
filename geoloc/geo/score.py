"""GeoGuessr score of a guess as a function of its great-circle error in km.

Two forms are in use:

* :func:`geoguessr_score` — ``round(5000 * exp(-d_km / 1492.7))``, the form PIGEON (Haas et
  al., CVPR 2024) and OSV-5M report their "GeoGuessr score" with. Use it to compare with
  published numbers.
* :func:`geoguessr_score_mapsize` — ``5000 * exp(-10 * d_km / S)`` with ``S`` the map size in km;
  for the world map ``S = 14916.862`` km (so the scale is 1491.6862 km). This reproduces the
  9 duel rounds recorded from the real game exactly (design doc FRONTENDS.md §1.3), where
  the 1492.7 constant is 1 point too high on 6 of them. Use it for games (arena, game server).

The two forms differ by at most a few points over 0..20,000 km (see ``docs/geo.md``).
Both accept a scalar (returning a Python ``int``/``float``) or an array-like (returning an
``np.ndarray`` of the same shape). Distances must be finite and >= 0; otherwise
:class:`~geoloc.errors.GeolocError` is raised naming the offending entries.
"""

from __future__ import annotations

import numpy as np

from geoloc.errors import GeolocError
from geoloc.geo.distance import haversine_km
from geoloc.geo.validate import describe_rows

MAX_SCORE: int = 5000
"""Points for a perfect guess."""

PIGEON_SCORE_SCALE_KM: float = 1492.7
"""Decay scale (km) of the PIGEON / OSV-5M GeoGuessr score: ``5000 * exp(-d / 1492.7)``."""

WORLD_MAP_SIZE_KM: float = 14916.862
"""GeoGuessr's size ``S`` of the world map (km) in ``5000 * exp(-10 * d / S)``."""


def _check_distances(d_km) -> np.ndarray:
    d = np.asarray(d_km, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        rows = np.flatnonzero(bad.ravel())
        raise GeolocError(
            f"score: {rows.size} invalid distance(s) (NaN, infinite or negative km) at {describe_rows(rows)}"
        )
    return d


def geoguessr_score(d_km):
    """PIGEON / OSV-5M GeoGuessr score ``round(5000 * exp(-d_km / 1492.7))``.

    ``d_km``: great-circle error in km (scalar or array). Returns ``int`` for a scalar, else an
    ``int64`` array of the same shape. 5000 at 0 km, 0 from about 16,100 km on.
    """
    d = _check_distances(d_km)
    s = np.rint(MAX_SCORE * np.exp(-d / PIGEON_SCORE_SCALE_KM)).astype(np.int64)
    return int(s) if s.ndim == 0 else s


def geoguessr_score_mapsize(d_km, map_size_km: float = WORLD_MAP_SIZE_KM, *, rounded: bool = True):
    """Map-size GeoGuessr score ``5000 * exp(-10 * d_km / map_size_km)``, rounded by default.

    ``d_km``: great-circle error in km (scalar or array); ``map_size_km``: the map's size ``S``
    (14916.862 km for the world map; for other maps see :func:`map_size_km`). Returns ``int``
    (or ``float`` with ``rounded=False``) for a scalar, else an ``int64`` (``float64``) array.
    """
    if not (np.isfinite(map_size_km) and map_size_km > 0):
        raise GeolocError(f"score: map size must be a positive number of km, got {map_size_km}")
    d = _check_distances(d_km)
    s = MAX_SCORE * np.exp(-10.0 * d / float(map_size_km))
    if rounded:
        s = np.rint(s).astype(np.int64)
        return int(s) if s.ndim == 0 else s
    return float(s) if s.ndim == 0 else s


def map_size_km(min_lat: float, min_lon: float, max_lat: float, max_lon: float) -> float:
    """Approximate map size ``S`` (km) of a custom map: the great-circle distance between the
    corners of its bounds (degrees). GeoGuessr does not publish its rule; this is the common
    approximation used by open-source bots. The world map uses :data:`WORLD_MAP_SIZE_KM`."""
    return float(haversine_km(min_lat, min_lon, max_lat, max_lon))
