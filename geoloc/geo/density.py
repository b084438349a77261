"""A realistic photo-density prior: where people take geotagged photos.

``photo_prior_100k.npz`` holds the 100,000 MP-16 Flickr photo coordinates shipped in the
MIT-licensed ``geoclip`` wheel (arrays ``lat``, ``lon``, float32 degrees). It is used to
draw realistic synthetic locations (benchmarks, synthetic data, demos).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from geoloc.geo.datafiles import data_path
from geoloc.geo.distance import EARTH_RADIUS_KM

PRIOR_FILE = "photo_prior_100k.npz"
KM_PER_DEG_LAT: float = math.pi * EARTH_RADIUS_KM / 180.0
"""Kilometres per degree of latitude (and of longitude at the equator) on the mean sphere."""

MAX_REDRAWS = 64
"""Rounds of rejection for sea points before a sample falls back to its (land) source point."""


@functools.lru_cache(maxsize=1)
def _prior_cached() -> tuple[np.ndarray, np.ndarray]:
    with np.load(data_path(PRIOR_FILE)) as z:
        lat = z["lat"].astype(np.float64)
        lon = z["lon"].astype(np.float64)
    lat.setflags(write=False)
    lon.setflags(write=False)
    return lat, lon


def load_photo_prior() -> tuple[np.ndarray, np.ndarray]:
    """The 100,000 prior photo coordinates: ``(lat, lon)``, float64 arrays [100000] in degrees.

    The arrays are cached and read-only; copy them before modifying.
    """
    return _prior_cached()


@functools.lru_cache(maxsize=1)
def _land_source_index() -> np.ndarray:
    from geoloc.geo.landsea import is_land

    lat, lon = _prior_cached()
    return np.flatnonzero(is_land(lat, lon))


def jitter_points_km(
    lat: np.ndarray, lon: np.ndarray, sigma_km: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Move each point (degrees) by an isotropic Gaussian offset with std ``sigma_km`` per axis.

    The east-west offset is divided by ``cos(lat)`` (floored at 0.01) so it is in km on the
    ground. Latitudes are reflected at the poles and longitudes wrapped into [-180, 180).
    Returns new float64 arrays [N].
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if sigma_km <= 0 or lat.size == 0:
        return lat.copy(), lon.copy()
    north, east = rng.normal(0.0, sigma_km, size=(2, lat.size))
    coslat = np.maximum(np.cos(np.radians(lat)), 0.01)
    new_lat = lat + north / KM_PER_DEG_LAT
    new_lon = lon + east / (KM_PER_DEG_LAT * coslat)
    # Reflect over the poles (crossing a pole moves to the opposite meridian).
    over = new_lat > 90.0
    under = new_lat < -90.0
    new_lat = np.where(over, 180.0 - new_lat, np.where(under, -180.0 - new_lat, new_lat))
    new_lon = np.where(over | under, new_lon + 180.0, new_lon)
    new_lat = np.clip(new_lat, -90.0, 90.0)
    new_lon = (new_lon + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def sample_photo_locations(
    n: int, *, seed: int, jitter_km: float = 5.0, land_only: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` realistic photo locations: ``(lat, lon)`` float64 arrays [n] in degrees.

    Each sample picks a prior photo uniformly at random (with replacement) and moves it by a
    Gaussian offset of ``jitter_km`` km per axis (see :func:`jitter_points_km`). With ``land_only``,
    sources are restricted to prior photos on land and a jittered point that falls into the
    sea keeps its source and redraws only the offset (so the density over sources is the
    prior's); after :data:`MAX_REDRAWS` failed rounds it falls back to the source point.
    Deterministic for a given ``seed``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    prior_lat, prior_lon = _prior_cached()
    sources = _land_source_index() if land_only else np.arange(prior_lat.size)
    pick = sources[rng.integers(0, sources.size, size=n)]
    src_lat, src_lon = prior_lat[pick], prior_lon[pick]
    lat, lon = jitter_points_km(src_lat, src_lon, jitter_km, rng)
    if land_only and n:
        from geoloc.geo.landsea import is_land

        todo = np.flatnonzero(~is_land(lat, lon))
        for _ in range(MAX_REDRAWS):
            if todo.size == 0:
                break
            lat[todo], lon[todo] = jitter_points_km(src_lat[todo], src_lon[todo], jitter_km, rng)
            todo = todo[~is_land(lat[todo], lon[todo])]
        lat[todo], lon[todo] = src_lat[todo], src_lon[todo]
    return lat, lon
