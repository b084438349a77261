"""Pure geography: distances, projections, boundaries, gazetteer, GeoGuessr score."""

from __future__ import annotations

from geoloc.geo.distance import (
    EARTH_RADIUS_KM,
    haversine_km,
    haversine_km_torch,
    pairwise_haversine_km,
)

__all__ = ["EARTH_RADIUS_KM", "haversine_km", "haversine_km_torch", "pairwise_haversine_km"]
