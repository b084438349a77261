"""Coordinate validation shared by every entry point (CLI, data layer, cells, app, arena)."""

from __future__ import annotations

import numpy as np

from geoloc.errors import CoordinateError


def invalid_coordinate_mask(lat, lon) -> np.ndarray:
    """Boolean mask [N]: True where lat/lon is NaN, infinite or out of range
    (lat outside [-90, 90] or lon outside [-180, 180] degrees)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(lat) | ~np.isfinite(lon)
        bad |= (np.abs(np.nan_to_num(lat)) > 90.0) | (np.abs(np.nan_to_num(lon)) > 180.0)
    return bad


def describe_rows(rows: np.ndarray, limit: int = 10) -> str:
    """'rows 3, 7, 12 and 4 more' for error messages (0-based row numbers)."""
    rows = np.asarray(rows).ravel()
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return f"row{'s' if rows.size != 1 else ''} {shown}{more}"


def check_coordinates(lat, lon, *, what: str = "coordinates") -> tuple[np.ndarray, np.ndarray]:
    """Return float64 arrays [N] or raise :class:`CoordinateError` naming the bad rows.

    ``lat`` and ``lon`` must be 1-D of equal length, in degrees.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise CoordinateError(f"{what}: {lat.size} latitudes but {lon.size} longitudes")
    bad = np.flatnonzero(invalid_coordinate_mask(lat, lon))
    if bad.size:
        raise CoordinateError(
            f"{what}: {bad.size} invalid coordinate(s) (NaN, infinite, or outside lat [-90, 90] / "
            f"lon [-180, 180]) at {describe_rows(bad)}"
        )
    return lat, lon
