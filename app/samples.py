"""One-click SynthWorld sample scenes and "play against the model" rounds.

A sample is a SynthWorld location rendered as 4 street-level views (headings 0/90/180/270,
:func:`geoloc.synth.generate_scene`), so its true position is known and the model's error and
GeoGuessr score can be shown. Rounds of the game draw locations with
:func:`geoloc.synth.locations.sample_locations` (SynthWorld's own location prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoloc.errors import GeolocError
from geoloc.geo import geoguessr_score, haversine_km
from geoloc.synth.gallery import GALLERY_PLACES

SAMPLE_PLACES: dict[str, tuple[float, float, int]] = {label: (lat, lon, month)
                                                     for label, lat, lon, month in GALLERY_PLACES}
SAMPLE_VIEWS = 4
DEFAULT_SCENE_SIZE = 128
CLICK_GRID_STEP_DEG = 2.0  # 3.9k land points; with 1 degree (15.5k) Chromium clicks gave no selection


@dataclass
class Scene:
    """A rendered location: RGB PIL ``views`` and the true ``lat``, ``lon`` (degrees)."""

    label: str
    lat: float
    lon: float
    views: list


def scene_size(image_size: int | None) -> int:
    """Render size (px) for a model input size: even, within SynthWorld's 32..512, default 128."""
    from geoloc.synth.render import MAX_SIZE, MIN_SIZE

    size = int(image_size or DEFAULT_SCENE_SIZE)
    size = max(size, DEFAULT_SCENE_SIZE)
    size += size % 2
    return int(np.clip(size, MIN_SIZE, MAX_SIZE))


def render_sample(label: str, size: int = DEFAULT_SCENE_SIZE, seed: int = 0) -> Scene:
    """Render one of ``SAMPLE_PLACES`` (4 views)."""
    from geoloc.synth.generate import generate_scene
    from geoloc.synth.locations import location_attributes

    if label not in SAMPLE_PLACES:
        raise GeolocError(f"unknown sample {label!r}; choose one of {', '.join(SAMPLE_PLACES)}")
    lat, lon, month = SAMPLE_PLACES[label]
    attrs = location_attributes(lat, lon, seed=seed, month=month)
    views = generate_scene(attrs.to_dict(), size=size, views=SAMPLE_VIEWS)
    return Scene(label=label, lat=lat, lon=lon, views=views)


def random_round(seed: int, size: int = DEFAULT_SCENE_SIZE) -> Scene:
    """A random SynthWorld location (seeded) rendered as 4 views: one round of the game."""
    from geoloc.synth.generate import generate_scene
    from geoloc.synth.locations import sample_locations

    row = sample_locations(1, seed=int(seed)).iloc[0]
    views = generate_scene(row.to_dict(), size=size, views=SAMPLE_VIEWS)
    return Scene(label=f"round {seed}", lat=float(row["lat"]), lon=float(row["lon"]), views=views)


def score_guess(guess: tuple[float, float], truth: tuple[float, float]) -> tuple[float, int]:
    """(great-circle km, GeoGuessr points) of a guess; points = ``geoguessr_score`` (5000 exp(-d/1492.7))."""
    from geoloc.geo import check_coordinates

    check_coordinates([guess[0]], [guess[1]], what="guess")
    km = float(haversine_km(guess[0], guess[1], truth[0], truth[1]))
    return km, int(geoguessr_score(km))


def click_grid(step_deg: float = CLICK_GRID_STEP_DEG) -> list[dict[str, float]]:
    """Pickable guess targets for the map: the centres of a ``step_deg`` lon/lat grid that are on
    land (``geoloc.geo.is_land``), as ``{"lat", "lon", "label"}`` records (degrees)."""
    from geoloc.geo import is_land

    lat, lon = np.meshgrid(np.arange(-60 + step_deg / 2, 84, step_deg), np.arange(-180 + step_deg / 2, 180, step_deg),
                           indexing="ij")
    lat, lon = lat.ravel(), lon.ravel()
    keep = is_land(lat, lon)
    return [{"lat": round(float(a), 3), "lon": round(float(b), 3), "label": f"guess here: {a:.1f}, {b:.1f}"}
            for a, b in zip(lat[keep], lon[keep], strict=True)]


def guess_from_selection(event, layer_id: str = "click_grid") -> tuple[float, float] | None:
    """(lat, lon) of the grid point picked on the map, from ``st.pydeck_chart``'s selection event
    (``{"selection": {"objects": {layer_id: [{"lat", "lon", ...}]}}}``); None when nothing is picked."""
    try:
        objects = event["selection"]["objects"].get(layer_id) or []
    except (KeyError, TypeError, AttributeError):
        return None
    for obj in objects:
        try:
            lat, lon = float(obj["lat"]), float(obj["lon"])
        except (KeyError, TypeError, ValueError):
            continue
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon
    return None


def parse_coordinates(text: str) -> tuple[float, float]:
    """``"48.85, 2.35"`` (also space- or semicolon-separated) -> (lat, lon) degrees; raises
    :class:`geoloc.errors.CoordinateError` for anything else or out-of-range values."""
    from geoloc.errors import CoordinateError
    from geoloc.geo import check_coordinates

    parts = [p for p in text.replace(";", " ").replace(",", " ").split() if p]
    if len(parts) != 2:
        raise CoordinateError(f"type two numbers, latitude then longitude (e.g. 48.85, 2.35); got {text!r}")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError as exc:
        raise CoordinateError(f"not numbers: {text!r}") from exc
    la, lo = check_coordinates([lat], [lon], what="guess")
    return float(la[0]), float(lo[0])


__all__ = ["SAMPLE_PLACES", "SAMPLE_VIEWS", "Scene", "click_grid", "guess_from_selection", "parse_coordinates",
           "random_round", "render_sample", "scene_size", "score_guess"]
