"""Guess-map geometry: lat/lng <-> CSS pixel on the map element, and Selenium click offsets.

The arena's guess map (a Web Mercator canvas) carries ``data-zoom`` (fractional zoom ``z``:
the world is ``256 * 2**z`` CSS px wide), ``data-center-lat`` and ``data-center-lng`` (degrees);
its CSS size is the element's layout size. Pixels are CSS px from the element's top-left
corner, x east, y south. Selenium 4's ``ActionChains.move_to_element_with_offset`` measures
offsets from the element's *centre* and sends whole pixels, so :func:`click_offset` returns
integers from the centre and the point that click really selects (within half a pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geoloc.errors import GeolocError
from geoloc.geo.mercator import Viewport, latlon_to_viewport_px, viewport_px_to_latlon


@dataclass(frozen=True)
class MapGeometry:
    """A guess map on the page: Web Mercator ``zoom``, centre (degrees), CSS size (px)."""

    zoom: float
    center_lat: float
    center_lng: float
    width: float
    height: float

    @property
    def viewport(self) -> Viewport:
        return Viewport(self.center_lat, self.center_lng, self.zoom, self.width, self.height)

    @classmethod
    def from_attributes(cls, attrs: dict[str, str | None], width: float, height: float) -> MapGeometry:
        """Build from the canvas's ``data-zoom`` / ``data-center-lat`` / ``data-center-lng``
        attribute strings and its CSS size; GeolocError naming what is missing or not a number."""
        values = {}
        for key in ("data-zoom", "data-center-lat", "data-center-lng"):
            raw = attrs.get(key)
            try:
                values[key] = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise GeolocError(f"guess map: attribute {key}={raw!r} is missing or not a number") from None
            if not math.isfinite(values[key]):
                raise GeolocError(f"guess map: attribute {key}={raw!r} is not finite")
        if not (width > 0 and height > 0):
            raise GeolocError(f"guess map: element has no size ({width} x {height} px); is it visible?")
        return cls(values["data-zoom"], values["data-center-lat"], values["data-center-lng"],
                   float(width), float(height))

    def to_px(self, lat: float, lng: float) -> tuple[float, float]:
        """CSS px ``(x, y)`` from the top-left corner where ``(lat, lng)`` degrees is drawn."""
        x, y = latlon_to_viewport_px(lat, lng, viewport=self.viewport)
        return float(x), float(y)

    def to_latlng(self, x: float, y: float) -> tuple[float, float]:
        """Inverse of :meth:`to_px`: ``(lat, lng)`` degrees at CSS px ``(x, y)``."""
        lat, lng = viewport_px_to_latlon(x, y, viewport=self.viewport)
        return float(lat), float(lng)

    def contains(self, x: float, y: float) -> bool:
        """Whether pixel ``(x, y)`` lies on the element (clicks outside it miss the map)."""
        return 0.0 <= x < self.width and 0.0 <= y < self.height


@dataclass(frozen=True)
class ClickTarget:
    """Where to click for a guess.

    Attributes:
        dx, dy: integer offset (CSS px) from the element's centre, for move_to_element_with_offset.
        x, y: the same point from the top-left corner (CSS px, possibly fractional centre).
        lat, lng: the point this click selects (the wanted point up to pixel rounding).
        clamped: the wanted point lay off the map and was moved to its nearest edge pixel.
    """

    dx: int
    dy: int
    x: float
    y: float
    lat: float
    lng: float
    clamped: bool


def click_offset(geom: MapGeometry, lat: float, lng: float,
                 origin: tuple[float, float] | None = None) -> ClickTarget:
    """The integer offset from ``origin`` that clicks ``(lat, lng)`` on ``geom``, kept on the map.

    ``origin``: element-relative CSS px of the point Selenium offsets from (WebDriver's in-view
    centre point, ``floor(left + w/2) - left``); default ``(floor(w/2), floor(h/2))``.
    """
    x, y = geom.to_px(lat, lng)
    ox, oy = origin if origin is not None else (math.floor(geom.width / 2.0), math.floor(geom.height / 2.0))
    dx, dy = round(x - ox), round(y - oy)
    # keep the click on the element: 0 <= origin + d <= size - 1
    lo_x, hi_x = math.ceil(-ox), math.floor(geom.width - 1 - ox)
    lo_y, hi_y = math.ceil(-oy), math.floor(geom.height - 1 - oy)
    cdx, cdy = min(max(dx, lo_x), hi_x), min(max(dy, lo_y), hi_y)
    clamped = (cdx, cdy) != (dx, dy)
    px, py = ox + cdx, oy + cdy
    plat, plng = geom.to_latlng(px, py)
    return ClickTarget(cdx, cdy, float(px), float(py), plat, plng, clamped)


__all__ = ["ClickTarget", "MapGeometry", "click_offset"]
