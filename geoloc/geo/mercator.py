"""Web Mercator (EPSG:3857) with 256-px tiles: lat/lon <-> world pixels and map viewports.

"World pixels" at zoom ``z`` (float zoom allowed, as in Leaflet's fractional zoom) run from
(0, 0) at the north-west corner (lat 85.05113°, lon -180°) to ``(256 * 2**z, 256 * 2**z)``
at the south-east corner; x grows east, y grows south, as in Google Maps and Leaflet.
Latitudes are clamped to ±:data:`MAX_LATITUDE` before projecting.

A *viewport* is a map of ``width x height`` CSS pixels showing a given centre at a given
zoom (or, equivalently, given bounds). Viewport pixels are measured from the map's top-left
corner. The bot uses :func:`latlon_to_viewport_px` to click its guess on a map; the app uses
it to draw. Longitudes are wrapped to the world copy nearest the viewport centre, so maps
that straddle the antimeridian work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geoloc.errors import CoordinateError
from geoloc.geo.validate import describe_rows

TILE_SIZE: int = 256
"""Tile edge in pixels; the whole world is one tile at zoom 0."""

MAX_LATITUDE: float = math.degrees(2.0 * math.atan(math.exp(math.pi)) - math.pi / 2.0)
"""85.0511287798... degrees: the latitude where the square Web Mercator world ends."""


def world_size_px(zoom) -> np.ndarray | float:
    """Edge length of the world in pixels at ``zoom``: ``256 * 2**zoom``."""
    return TILE_SIZE * np.exp2(np.asarray(zoom, dtype=np.float64))


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def _check_latlon(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """float64 arrays; CoordinateError naming entries with NaN/inf, |lat| > 90 or non-finite lon.

    Longitudes outside [-180, 180] are allowed here (map copies east/west of the main world)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(np.nan_to_num(lat)) > 90.0)
    if np.any(bad):
        rows = np.flatnonzero(np.broadcast_to(bad, np.broadcast(lat, lon).shape).ravel())
        raise CoordinateError(
            f"mercator: {rows.size} invalid coordinate(s) (NaN, infinite, or lat outside [-90, 90]) at "
            f"{describe_rows(rows)}"
        )
    return lat, lon


def latlon_to_world_px(lat, lon, zoom):
    """Project degrees to world pixels ``(x, y)`` at ``zoom`` (scalars or broadcasting arrays).

    Latitude is clamped to ±MAX_LATITUDE; longitude is used as given (lon 180 gives x = world
    size, lon -180 gives 0; values beyond ±180 land in the neighbouring world copies). Returns
    floats for scalar input, else float64 arrays. NaN/inf or |lat| > 90 raise CoordinateError.
    """
    size = world_size_px(zoom)
    lat, lon = _check_latlon(lat, lon)
    lat = np.clip(lat, -MAX_LATITUDE, MAX_LATITUDE)
    x = (lon + 180.0) / 360.0 * size
    s = np.sin(np.radians(lat))
    y = (0.5 - np.log((1.0 + s) / (1.0 - s)) / (4.0 * math.pi)) * size
    return _out(x), _out(y)


def world_px_to_latlon(x, y, zoom, *, wrap: bool = True):
    """Inverse of :func:`latlon_to_world_px`: world pixels at ``zoom`` -> ``(lat, lon)`` degrees.

    ``y`` outside the world is clamped to it (lat ±MAX_LATITUDE). With ``wrap`` longitudes are
    wrapped into [-180, 180); otherwise x outside the world gives lon outside that range.
    """
    size = world_size_px(zoom)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CoordinateError("mercator: pixel coordinates must be finite numbers")
    y = np.clip(y, 0.0, size)
    lon = x / size * 360.0 - 180.0
    if wrap:
        lon = (lon + 180.0) % 360.0 - 180.0
    merc = math.pi * (1.0 - 2.0 * y / size)
    lat = np.degrees(2.0 * np.arctan(np.exp(merc)) - math.pi / 2.0)
    lat = np.clip(lat, -MAX_LATITUDE, MAX_LATITUDE)
    return _out(lat), _out(lon)


@dataclass(frozen=True)
class Viewport:
    """A map view: centre (degrees), zoom (float) and size in pixels (width, height)."""

    center_lat: float
    center_lon: float
    zoom: float
    width: float
    height: float

    @classmethod
    def from_bounds(
        cls, south: float, west: float, north: float, east: float, width: float, height: float
    ) -> Viewport:
        """The viewport whose visible bounds (degrees) are exactly these on a ``width`` px map.

        The zoom comes from the longitude span (``east < west`` means the view crosses the
        antimeridian); the centre is the midpoint in projected space, not in degrees. The
        ``height`` is kept as given (the latitude span is implied by it).
        """
        if not (width > 0 and height > 0):
            raise ValueError(f"viewport size must be positive, got {width} x {height}")
        span = (east - west) % 360.0 or 360.0
        zoom = math.log2(width * 360.0 / (span * TILE_SIZE))
        x0, y_n = latlon_to_world_px(north, west, zoom)
        _, y_s = latlon_to_world_px(south, west, zoom)
        cx = x0 + width / 2.0
        clat, clon = world_px_to_latlon(cx, (y_n + y_s) / 2.0, zoom)
        return cls(float(clat), float(clon), zoom, float(width), float(height))

    def bounds(self) -> tuple[float, float, float, float]:
        """Visible ``(south, west, north, east)`` in degrees (west/east wrapped to [-180, 180))."""
        south, west = viewport_px_to_latlon(0.0, self.height, viewport=self)
        north, east = viewport_px_to_latlon(self.width, 0.0, viewport=self)
        return south, west, north, east


def _resolve(viewport, center, zoom, bounds, width, height) -> Viewport:
    if viewport is not None:
        return viewport
    if width is None or height is None:
        raise ValueError("give viewport=, or width= and height= with center=/zoom= or bounds=")
    if bounds is not None:
        return Viewport.from_bounds(*bounds, width, height)
    if center is None or zoom is None:
        raise ValueError("give center=(lat, lon) and zoom=, or bounds=(south, west, north, east)")
    return Viewport(float(center[0]), float(center[1]), float(zoom), float(width), float(height))


def latlon_to_viewport_px(
    lat,
    lon,
    *,
    viewport: Viewport | None = None,
    center: tuple[float, float] | None = None,
    zoom: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    width: float | None = None,
    height: float | None = None,
):
    """Pixel ``(px, py)`` from the map's top-left corner where ``(lat, lon)`` (degrees) is drawn.

    Describe the map by ``viewport=``, or by ``width``/``height`` plus either ``center=(lat,
    lon)`` and ``zoom``, or ``bounds=(south, west, north, east)``. The longitude is taken in
    the world copy nearest the centre. Points outside the view give pixels outside
    ``[0, width] x [0, height]``.
    """
    vp = _resolve(viewport, center, zoom, bounds, width, height)
    size = float(world_size_px(vp.zoom))
    cx, cy = latlon_to_world_px(vp.center_lat, vp.center_lon, vp.zoom)
    x, y = latlon_to_world_px(lat, lon, vp.zoom)
    dx = (np.asarray(x) - cx + size / 2.0) % size - size / 2.0
    px = dx + vp.width / 2.0
    py = np.asarray(y) - cy + vp.height / 2.0
    return _out(px), _out(py)


def viewport_px_to_latlon(
    px,
    py,
    *,
    viewport: Viewport | None = None,
    center: tuple[float, float] | None = None,
    zoom: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    width: float | None = None,
    height: float | None = None,
):
    """Inverse of :func:`latlon_to_viewport_px`: map pixel -> ``(lat, lon)`` degrees.

    Longitude is wrapped into [-180, 180); latitude is clamped to ±MAX_LATITUDE.
    """
    vp = _resolve(viewport, center, zoom, bounds, width, height)
    cx, cy = latlon_to_world_px(vp.center_lat, vp.center_lon, vp.zoom)
    x = np.asarray(px, dtype=np.float64) - vp.width / 2.0 + cx
    y = np.asarray(py, dtype=np.float64) - vp.height / 2.0 + cy
    return world_px_to_latlon(x, y, vp.zoom, wrap=True)
