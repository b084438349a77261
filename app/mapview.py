"""Offline world maps of a prediction: pure builders of pydeck layers (no base map, no tile server).

``build_deck(prediction, geocells=..., exif=..., ...)`` returns a ``pydeck.Deck`` with
``map_provider=None``. Layers, bottom to top:

* ``ocean``: one rectangle, the background;
* ``countries``: Natural Earth outlines, by URL (:data:`app.outlines.OUTLINES_URL`): the browser fetches
  the static file once and keeps it in its cache, instead of receiving ~340 KB with every map;
* ``cells``: the top geocells, filled by probability (:func:`probability_colour`);
* ``uncertainty``: a circle of :func:`uncertainty_radius_km` around the final guess;
* ``top_k`` + ``top_k_labels``: the top-k cell centroids, radius in pixels growing with probability;
* ``guess``: the final (refined) guess; ``exif``: the camera's GPS position; ``extra``: other
  points (the player's guess, the true location), and a pickable ``click_grid`` in play mode.

Every ``*_data`` function returns the plain records a layer draws, so they can be tested without
a browser. Coordinates are degrees; radii are metres (``*_m``) or pixels (``*_px``).

The deck is a :class:`CompactDeck`: pydeck serialises with ``indent=2`` through Python's pure-Python
JSON encoder (a 390 KB map became 2.5 MB of JSON, re-sent and re-parsed on every rerun); the compact
form is the same document without the whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from geoloc.geo import haversine_km

# colours (RGBA 0..255)
OCEAN = [214, 230, 242, 255]
LAND = [246, 243, 236, 255]
BORDER = [150, 150, 150, 255]
RANK_COLOUR = [37, 99, 235, 230]
GUESS_COLOUR = [220, 38, 38, 255]
EXIF_COLOUR = [22, 163, 74, 255]
RADIUS_COLOUR = [220, 38, 38, 200]
CLICK_COLOUR = [150, 140, 120, 255]  # the game's guess map: land drawn as a grid of clickable dots
LOW_COLOUR = np.array([255, 237, 160], dtype=np.float64)   # light yellow: low probability
HIGH_COLOUR = np.array([189, 0, 38], dtype=np.float64)     # dark red: high probability
MIN_ALPHA, MAX_ALPHA = 60, 220
MIN_POINT_PX, MAX_POINT_PX = 4.0, 12.0
# pydeck turns bare strings into JavaScript expressions ("pixels" -> "@@=pixels", which deck.gl then
# ignores); constant string props must be quoted to stay strings in the JSON.
PIXELS, METERS = "'pixels'", "'meters'"
FONT = "'Helvetica Neue, Arial, sans-serif'"


@dataclass(frozen=True)
class MapPoint:
    """An extra labelled point (degrees) with an RGBA colour."""

    lat: float
    lon: float
    label: str
    colour: tuple[int, int, int, int] = (124, 58, 237, 255)


def probability_colour(p: Sequence[float] | np.ndarray, p_max: float | None = None) -> np.ndarray:
    """RGBA [N, 4] uint8 for probabilities [N]: yellow -> dark red and more opaque as ``p / p_max``
    grows (``p_max`` defaults to ``max(p)``). Monotone: alpha and red-ness never decrease with p."""
    p = np.asarray(p, dtype=np.float64)
    top = float(np.max(p)) if p_max is None and p.size else float(p_max or 0.0)
    t = np.clip(p / top, 0.0, 1.0) if top > 0 else np.zeros_like(p)
    rgb = LOW_COLOUR[None, :] + t[:, None] * (HIGH_COLOUR - LOW_COLOUR)[None, :]
    alpha = MIN_ALPHA + t * (MAX_ALPHA - MIN_ALPHA)
    return np.rint(np.column_stack([rgb, alpha])).astype(np.uint8)


def point_radius_px(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Marker radius in pixels [N] for probabilities [N]: sqrt-scaled (area ~ probability) between
    ``MIN_POINT_PX`` and ``MAX_POINT_PX``, relative to the largest."""
    p = np.asarray(p, dtype=np.float64)
    top = float(np.max(p)) if p.size else 0.0
    t = np.sqrt(np.clip(p / top, 0.0, 1.0)) if top > 0 else np.zeros_like(p)
    return MIN_POINT_PX + t * (MAX_POINT_PX - MIN_POINT_PX)


def uncertainty_radius_km(prediction) -> float:
    """Probability-weighted mean great-circle distance (km) from the final guess to the top-k cell
    centroids (weights renormalised over the top-k). 0 when the top-k mass sits at the guess."""
    if prediction.lat is None or not prediction.top_k:
        return 0.0
    lat = np.array([t.lat for t in prediction.top_k])
    lon = np.array([t.lon for t in prediction.top_k])
    w = np.array([t.probability for t in prediction.top_k], dtype=np.float64)
    if w.sum() <= 0:
        return 0.0
    d = haversine_km(np.full_like(lat, prediction.lat), np.full_like(lon, prediction.lon), lat, lon)
    return float(np.sum(w * d) / np.sum(w))


def _place_text(place) -> str:
    from app.results import place_name

    return "" if place is None else f"{place_name(place)}, {place.distance_km:.0f} km"


def top_points_data(prediction) -> list[dict[str, Any]]:
    """Records of the top-k markers: ``lat, lon, rank, probability, radius_px, label`` (tooltip),
    ``rank_text`` (the rank, drawn on the map: short so that nearby guesses stay readable), ``name, place``."""
    tops = prediction.top_k
    radii = point_radius_px([t.probability for t in tops])
    return [{"lat": t.lat, "lon": t.lon, "rank": r, "probability": t.probability, "radius_px": float(rad),
             "label": f"{r} ({100 * t.probability:.1f}%) {t.cell_name}", "rank_text": str(r), "name": t.cell_name,
             "place": _place_text(t.place),
             "colour": RANK_COLOUR}
            for r, (t, rad) in enumerate(zip(tops, radii, strict=True), 1)]


def cell_features(prediction, geocells, *, tolerance_deg: float = 0.05) -> list[dict[str, Any]]:
    """GeoJSON Features of the top-k geocells (polygons simplified to ``tolerance_deg``), with
    ``properties``: ``cell, name, probability, fill`` (RGBA from :func:`probability_colour`)."""
    from shapely.geometry import mapping

    tops = prediction.top_k
    if not tops or geocells is None:
        return []
    colours = probability_colour([t.probability for t in tops])
    geoms = geocells.frame.geometry
    feats = []
    for t, colour in zip(tops, colours, strict=True):
        g = geoms.iloc[t.cell]
        if g is None or g.is_empty:
            continue
        g = g.simplify(tolerance_deg, preserve_topology=True)
        feats.append({"type": "Feature", "geometry": mapping(g),
                      "properties": {"cell": t.cell, "name": t.cell_name, "probability": t.probability,
                                     "label": f"{t.cell_name}: {100 * t.probability:.1f}%",
                                     "fill": [int(c) for c in colour]}})
    return feats


def view_state_for(points: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Centre (mean of the points, degrees) and zoom (0.6 world .. 6 city region) showing all points."""
    if not points:
        return {"latitude": 20.0, "longitude": 0.0, "zoom": 0.6}
    lat = np.array([p[0] for p in points], dtype=np.float64)
    lon = np.array([p[1] for p in points], dtype=np.float64)
    span = max(float(np.ptp(lat)), float(np.ptp(lon)) / 2.0, 1e-6)
    zoom = float(np.clip(np.log2(180.0 / span) - 0.5, 0.6, 6.0))
    return {"latitude": float(np.clip(lat.mean(), -70, 75)), "longitude": float(lon.mean()), "zoom": zoom}


class CompactDeck(pdk.Deck):
    """A ``pydeck.Deck`` whose :meth:`to_json` is pydeck's document without whitespace (see the module
    docstring); ``st.pydeck_chart`` sends ``to_json()``."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def base_layers() -> list:
    """The offline "base map": ocean rectangle and country outlines (the static GeoJSON, by URL)."""
    from app.outlines import OUTLINES_URL

    ocean = pdk.Layer("PolygonLayer", id="ocean",
                      data=[{"polygon": [[-180, -85], [180, -85], [180, 85], [-180, 85]]}],
                      get_polygon="polygon", get_fill_color=OCEAN, stroked=False, pickable=False)
    countries = pdk.Layer("GeoJsonLayer", id="countries", data=OUTLINES_URL, stroked=True, filled=True,
                          get_fill_color=LAND, get_line_color=BORDER, line_width_min_pixels=0.5, pickable=False)
    return [ocean, countries]


def point_layer(layer_id: str, records: list[dict[str, Any]], *, radius_px: float | str = 8.0,
                outline_px: float = 1.5, pickable: bool = True):
    """A ScatterplotLayer of records with ``lat, lon, colour`` (white outline of ``outline_px``).
    ``radius_px``: one radius in pixels, or the name of the records' field holding each radius."""
    return pdk.Layer("ScatterplotLayer", id=layer_id, data=records, get_position=["lon", "lat"],
                     get_fill_color="colour", get_radius=radius_px, radius_units=PIXELS, stroked=True,
                     get_line_color=[255, 255, 255, 255], line_width_min_pixels=outline_px, pickable=pickable)


def build_deck(prediction, *, geocells=None, exif: tuple[float, float] | None = None,
               extra_points: Sequence[MapPoint] = (), click_grid: list[dict[str, Any]] | None = None,
               show_radius: bool = True, base_map: bool = True, height: int = 460):
    """The map of one prediction (see the module docstring). ``prediction`` may be None (an empty
    world map, e.g. for a guess before the model's answer is revealed). ``base_map=False`` leaves out
    the ocean and country layers: the game's guess map is the ``click_grid`` dots alone, because with
    the outline layers present Streamlit returned no selection for clicks in Chromium (see docs/app.md)."""
    layers = base_layers() if base_map else []
    focus: list[tuple[float, float]] = []
    if click_grid is not None:
        layers.append(pdk.Layer("ScatterplotLayer", id="click_grid", data=click_grid, get_position=["lon", "lat"],
                                get_fill_color=CLICK_COLOUR, get_radius=4, radius_units=PIXELS, pickable=True,
                                auto_highlight=True, highlight_color=[124, 58, 237, 255]))
    if prediction is not None and prediction.ok and prediction.top_k:
        feats = cell_features(prediction, geocells)
        if feats:
            layers.append(pdk.Layer("GeoJsonLayer", id="cells", data={"type": "FeatureCollection", "features": feats},
                                    get_fill_color="properties.fill", get_line_color=[120, 0, 20, 160],
                                    line_width_min_pixels=1, pickable=True))
        radius = uncertainty_radius_km(prediction)
        if show_radius and radius > 0:
            layers.append(pdk.Layer("ScatterplotLayer", id="uncertainty",
                                    data=[{"lat": prediction.lat, "lon": prediction.lon, "radius_m": radius * 1e3,
                                           "label": f"uncertainty radius {radius:.0f} km"}],
                                    get_position=["lon", "lat"], get_radius="radius_m", radius_units=METERS,
                                    filled=False, stroked=True, get_line_color=RADIUS_COLOUR,
                                    line_width_min_pixels=2, pickable=False))
        tops = top_points_data(prediction)
        layers.append(point_layer("top_k", tops, radius_px="radius_px", outline_px=1))
        layers.append(pdk.Layer("TextLayer", id="top_k_labels", data=tops, get_position=["lon", "lat"],
                                get_text="rank_text", get_size=14, get_color=[30, 41, 59, 255],
                                get_pixel_offset=[0, -18], font_family=FONT))
        layers.append(point_layer("guess", [{"lat": prediction.lat, "lon": prediction.lon, "colour": GUESS_COLOUR,
                                             "label": f"model guess {prediction.lat:.3f}, {prediction.lon:.3f}"}],
                                  radius_px=9.0))
        focus += [(t["lat"], t["lon"]) for t in tops[:3]] + [(prediction.lat, prediction.lon)]
    if exif is not None:
        layers.append(point_layer("exif", [{"lat": exif[0], "lon": exif[1], "colour": EXIF_COLOUR,
                                            "label": f"camera GPS (EXIF) {exif[0]:.4f}, {exif[1]:.4f}"}]))
        focus.append(exif)
    if extra_points:
        layers.append(point_layer("extra", [{"lat": p.lat, "lon": p.lon, "colour": list(p.colour), "label": p.label}
                                            for p in extra_points], radius_px=8.0))
        focus += [(p.lat, p.lon) for p in extra_points]
    view = pdk.ViewState(**view_state_for(focus), pitch=0, bearing=0)
    # map_style is left at pydeck's default sentinel on purpose: with map_provider=None it serialises as
    # "__MAP_STYLE__", which Streamlit's frontend drops (no base map). map_style=None would make Streamlit
    # fall back to a Carto style fetched from basemaps.cartocdn.com (seen in the browser test).
    return CompactDeck(layers=layers, initial_view_state=view, map_provider=None,
                    views=[pdk.View(type="MapView", controller=True, repeat=False)],
                    tooltip={"text": "{label}"}, height=height)


__all__ = ["CompactDeck", "MapPoint", "base_layers", "build_deck", "cell_features", "point_layer", "point_radius_px",
           "probability_colour", "top_points_data", "uncertainty_radius_km", "view_state_for"]
