"""Pure geography: distances, projections, boundaries, gazetteer, land/sea, GeoGuessr score.

Imports stay light: geopandas (boundaries), the gazetteer CSV and the 1-km land mask are
loaded only when the functions that need them are first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geoloc.geo.density import jitter_points_km, load_photo_prior, sample_photo_locations
from geoloc.geo.distance import (
    EARTH_RADIUS_KM,
    haversine_km,
    haversine_km_torch,
    pairwise_haversine_km,
)
from geoloc.geo.gazetteer import load_places, nearest_place
from geoloc.geo.landsea import is_land, is_sea
from geoloc.geo.mercator import (
    MAX_LATITUDE,
    TILE_SIZE,
    Viewport,
    latlon_to_viewport_px,
    latlon_to_world_px,
    viewport_px_to_latlon,
    world_px_to_latlon,
)
from geoloc.geo.score import (
    PIGEON_SCORE_SCALE_KM,
    WORLD_MAP_SIZE_KM,
    geoguessr_score,
    geoguessr_score_mapsize,
    map_size_km,
)
from geoloc.geo.validate import check_coordinates, describe_rows, invalid_coordinate_mask

if TYPE_CHECKING:  # pragma: no cover
    from geoloc.geo.boundaries import load_admin0, load_admin1, lookup_admin

_LAZY = {"load_admin0", "load_admin1", "lookup_admin"}


def __getattr__(name: str):
    """Boundary functions import geopandas; load them on first access only."""
    if name in _LAZY:
        from geoloc.geo import boundaries

        return getattr(boundaries, name)
    raise AttributeError(f"module 'geoloc.geo' has no attribute {name!r}")


__all__ = [
    "EARTH_RADIUS_KM",
    "MAX_LATITUDE",
    "PIGEON_SCORE_SCALE_KM",
    "TILE_SIZE",
    "WORLD_MAP_SIZE_KM",
    "Viewport",
    "check_coordinates",
    "describe_rows",
    "geoguessr_score",
    "geoguessr_score_mapsize",
    "haversine_km",
    "haversine_km_torch",
    "invalid_coordinate_mask",
    "is_land",
    "is_sea",
    "jitter_points_km",
    "latlon_to_viewport_px",
    "latlon_to_world_px",
    "load_admin0",
    "load_admin1",
    "load_photo_prior",
    "load_places",
    "lookup_admin",
    "map_size_km",
    "nearest_place",
    "pairwise_haversine_km",
    "sample_photo_locations",
    "viewport_px_to_latlon",
    "world_px_to_latlon",
]
