"""SynthWorld locations: realistic sampling plus the full attribute table of each scene.

``sample_locations(n, seed)`` returns one row per location (a DataFrame, columns in
:data:`LOCATION_COLUMNS`). Locations are drawn in chunks of :data:`CHUNK` from the photo
density prior (:func:`geoloc.geo.density.sample_photo_locations`, land only, 5 km jitter),
each chunk seeded from ``(seed, chunk)`` by SHA-256, so the first ``m`` rows of
``sample_locations(n, seed)`` are the same for every ``n >= m`` (a prefix property that
makes generation resumable and lets small and large runs share scenes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoloc.synth.attributes import season_of, solar_position, stable_hash

CHUNK = 4096
JITTER_KM = 5.0
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
HOUR_RANGE = (7.0, 18.0)
"""Local solar hours sampled uniformly (daylight scenes, dusk at high latitudes in winter)."""

LOCATION_COLUMNS = [
    "id", "lat", "lon", "adm0_a3", "iso_a2", "country", "adm1_code", "admin1", "town", "town_id",
    "town_lat", "town_lon", "town_km", "district", "district_id", "continent", "style_region", "drives_left", "script",
    "language", "climate", "month", "season", "hour", "sun_elevation", "sun_azimuth",
    "road_bearing", "scene_seed", "split",
]


def location_ids(seed: int, start: int, stop: int) -> list[str]:
    """Ids ``s<seed>-<index>`` of locations ``start..stop-1`` of a seed."""
    return [f"s{seed}-{i:07d}" for i in range(start, stop)]


def _sample_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from geoloc.geo.density import sample_photo_locations

    lats, lons = [], []
    for k in range((n + CHUNK - 1) // CHUNK):
        la, lo = sample_photo_locations(CHUNK, seed=stable_hash("synth-locations", seed, k), jitter_km=JITTER_KM)
        lats.append(la)
        lons.append(lo)
    if not lats:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def _per_location_uniforms(seed: int, n: int, k: int) -> np.ndarray:
    """Uniforms [n, k], row i seeded by ``(seed, i)`` only (prefix property)."""
    out = np.empty((n, k))
    for c in range((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        rng = np.random.default_rng(stable_hash("synth-draws", seed, c))
        out[lo:hi] = rng.random((CHUNK, k))[: hi - lo]
    return out


def attributes_at(lat, lon, draws: np.ndarray, ids: list[str], seed: int) -> pd.DataFrame:
    """Attribute table for given points (degrees) and per-row uniforms ``draws`` [N, >=5].

    ``draws`` columns: month, hour, road bearing, split, scene seed. Points outside every
    country (open sea more than 25 km from land) get country ``none``.
    """
    from geoloc.geo.facts import location_facts

    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    facts = location_facts(lat, lon)
    month = 1 + np.floor(draws[:, 0] * 12).astype(np.int64)
    hour = HOUR_RANGE[0] + draws[:, 1] * (HOUR_RANGE[1] - HOUR_RANGE[0])
    el, az = solar_position(lat, month, hour)
    split_idx = np.searchsorted(np.cumsum(SPLIT_FRACTIONS), draws[:, 3], side="right").clip(0, 2)
    town_id = [f"{c}/{a}/{nm}/{la:.3f},{lo:.3f}" for c, a, nm, la, lo in
               zip(facts["town_cc"], facts["town_admin1"], facts["town"], facts["town_lat"], facts["town_lon"],
                   strict=True)]
    # The town motif's unit: the GeoNames admin-2 district (county, borough, district) of the
    # nearest place, a 10-50 km scale; the place itself where GeoNames has no admin-2.
    district = facts["district"].to_numpy()
    district_id = [f"{c}/{a}/{d}" if d else t for c, a, d, t in
                   zip(facts["town_cc"], facts["town_admin1"], district, town_id, strict=True)]
    df = facts.drop(columns=["district", "town_cc", "town_admin1"]).assign(
        id=ids, lat=lat, lon=lon, town_id=town_id, town_km=facts["town_km"].to_numpy().round(3),
        district=district, district_id=district_id, month=month, season=season_of(lat, month),
        hour=hour.round(3), sun_elevation=el.round(3), sun_azimuth=az.round(3),
        road_bearing=(draws[:, 2] * 360.0).round(3), scene_seed=(draws[:, 4] * 2.0**52).astype(np.int64),
        split=np.asarray(SPLITS, dtype=object)[split_idx])
    return df[LOCATION_COLUMNS]


def sample_locations(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` SynthWorld locations with all attributes (see module docstring), deterministic by seed.

    Returns a DataFrame [n] with columns :data:`LOCATION_COLUMNS`: ``lat, lon`` (degrees),
    country/admin-1/nearest town and its admin-2 district (the unit of the town motif), continent, style region, driving side, script, climate
    code, month, season, local solar hour, sun elevation/azimuth (degrees), road bearing
    (degrees clockwise from north), ``scene_seed`` (int) and ``split`` (train/val/test,
    80/10/10 by seed).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    lat, lon = _sample_points(n, seed)
    draws = _per_location_uniforms(seed, n, 5)
    return attributes_at(lat, lon, draws, location_ids(seed, 0, n), seed)


def location_attributes(lat: float, lon: float, *, seed: int = 0, month: int | None = None,
                        hour: float | None = None) -> pd.Series:
    """Attributes of one given point (degrees): a row like :func:`sample_locations` returns.

    Month, hour, road bearing and scene seed are drawn from ``(seed, lat, lon)``; ``month`` and
    ``hour`` may be fixed. Used by the app and the game arena to render a chosen place.
    """
    from geoloc.geo.validate import check_coordinates

    la, lo = check_coordinates([lat], [lon], what="location")
    rng = np.random.default_rng(stable_hash("synth-point", seed, f"{la[0]:.6f}", f"{lo[0]:.6f}"))
    draws = rng.random((1, 5))
    if month is not None:
        draws[0, 0] = (int(month) - 0.5) / 12.0
    if hour is not None:
        draws[0, 1] = (float(hour) - HOUR_RANGE[0]) / (HOUR_RANGE[1] - HOUR_RANGE[0])
    df = attributes_at(la, lo, draws, [f"p{seed}-{la[0]:.5f},{lo[0]:.5f}"], seed)
    if hour is not None:
        df.loc[0, "hour"] = float(hour)
    return df.iloc[0]
