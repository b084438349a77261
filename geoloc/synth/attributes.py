"""Scene attributes from real geography: climate class, season, sun position, hashed seeds.

All functions are vectorised over points (numpy arrays [N], degrees) and deterministic.

Climate (a Köppen-like main class from latitude and continentality only, no elevation):

=====  ==========================  =========================================================
code   name                        rule (``a`` = abs(latitude), ``c`` = continentality 0..1,
                                   ``w`` = sea fraction on the western bearings)
=====  ==========================  =========================================================
E      polar / tundra              a >= 64, or a >= 58 with c < 0.35 (cold maritime)
BW     hot desert                  16 <= a < 33 with c >= 0.72 (interior), or 12 <= a < 32
                                   with w >= 0.9 and c >= 0.4 (cold-current west coasts);
                                   not in monsoon Asia (lon 72..125 E, lat 0..30 N)
BS     steppe                      12 <= a < 38 with c >= 0.7, or 38 <= a < 52 with
                                   c >= 0.97 (not in monsoon Asia)
Af     tropical rainforest         a < 10 (not desert/steppe)
Aw     tropical savanna            10 <= a < 23.5 (not desert/steppe)
Cs     mediterranean               30 <= a < 45 and either the Mediterranean basin
                                   (lon -10..40, c < 0.8) or a west coast (w >= 0.85, c < 0.72)
D      continental / boreal        w < 0.6 and (a >= 38 with c >= 0.8, a >= 42 with c >= 0.62,
                                   or a >= 55)
Cf     temperate humid             everything else
=====  ==========================  =========================================================

Continentality and west-sea come from the shipped 1-degree grid (:mod:`geoloc.synth.tables`).
The rules reproduce the broad pattern (Sahara, Arabia, Atacama and Namib deserts; Amazon,
Congo and Indonesia rainforest; Siberia and Canada continental; western Europe temperate;
California, the Mediterranean, Chile, the Cape and SW Australia mediterranean) but not
mountain climates, monsoon detail or rain-shadow deserts.
"""

from __future__ import annotations

import hashlib

import numpy as np

from geoloc.synth.tables import grid_index, load_climate_grid

CLIMATES = ("Af", "Aw", "BW", "BS", "Cs", "Cf", "D", "E")
CLIMATE_NAMES = {
    "Af": "tropical rainforest", "Aw": "tropical savanna", "BW": "hot desert", "BS": "steppe",
    "Cs": "mediterranean", "Cf": "temperate humid", "D": "continental", "E": "polar / tundra",
}
SEASONS = ("winter", "spring", "summer", "autumn")


def stable_hash(*parts: object, bits: int = 63) -> int:
    """Platform-independent integer hash of the parts' ``str`` (SHA-256), ``bits`` wide."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") >> (64 - bits)


def stable_unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) from the parts (see :func:`stable_hash`)."""
    return stable_hash(*parts, bits=53) / float(1 << 53)


def climate_class(lat, lon) -> np.ndarray:
    """Köppen-like climate code (see module table) for each point: array [N] of str."""
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    cont_grid, west_grid = load_climate_grid()
    row, col = grid_index(lat, lon)
    c = cont_grid[row, col].astype(np.float64)
    w = west_grid[row, col].astype(np.float64)
    a = np.abs(lat)
    out = np.full(lat.shape, "Cf", dtype=object)
    out[((a >= 38) & (c >= 0.8) | (a >= 42) & (c >= 0.62) | (a >= 55)) & (w < 0.6)] = "D"
    med_basin = (lon >= -10) & (lon <= 40) & (c < 0.8)
    out[(a >= 30) & (a < 45) & (med_basin | (w >= 0.85) & (c < 0.72))] = "Cs"
    out[a < 10] = "Af"
    out[(a >= 10) & (a < 23.5)] = "Aw"
    monsoon_asia = (lon >= 72) & (lon <= 125) & (lat >= 0) & (lat < 30)
    steppe = ((a >= 12) & (a < 38) & (c >= 0.7)) | ((a >= 38) & (a < 52) & (c >= 0.97))
    out[steppe & ~monsoon_asia] = "BS"
    hot_interior = (a >= 16) & (a < 33) & (c >= 0.72)
    cold_current = (a >= 12) & (a < 32) & (w >= 0.9) & (c >= 0.4)
    out[(hot_interior | cold_current) & ~monsoon_asia] = "BW"
    out[(a >= 64) | ((a >= 58) & (c < 0.35))] = "E"
    return out.astype(str)


def season_of(lat, month) -> np.ndarray:
    """Hemisphere-aware meteorological season [N] (str): Dec-Feb is winter in the north and
    summer in the south; the equator (lat == 0) counts as north."""
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    month = np.atleast_1d(np.asarray(month, dtype=np.int64))
    north_idx = ((month % 12) // 3).astype(np.int64)  # 0 DJF winter, 1 MAM, 2 JJA, 3 SON
    idx = np.where(lat < 0, (north_idx + 2) % 4, north_idx)
    return np.asarray(SEASONS, dtype=object)[idx].astype(str)


def day_of_year(month, day=15) -> np.ndarray:
    """Approximate day of year (1..365) of ``day`` in ``month`` (non-leap year)."""
    starts = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
    return starts[np.asarray(month, dtype=np.int64) - 1] + np.asarray(day)


def solar_position(lat, month, hour, day=15) -> tuple[np.ndarray, np.ndarray]:
    """Sun ``(elevation, azimuth)`` in degrees for local solar time ``hour`` (0..24).

    Declination from Cooper's formula (``-23.44 cos(2 pi (doy + 10) / 365)``), hour angle
    ``15 (hour - 12)`` degrees; azimuth clockwise from north (90 = east). Accurate to about a
    degree, which is all a rendered sky needs.
    """
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    doy = day_of_year(month, day)
    dec = np.radians(-23.44) * np.cos(2 * np.pi * (doy + 10) / 365.0)
    h = np.radians(15.0 * (np.asarray(hour, dtype=np.float64) - 12.0))
    sin_el = np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(h)
    el = np.arcsin(np.clip(sin_el, -1, 1))
    # Azimuth from north, clockwise.
    y = -np.sin(h) * np.cos(dec)
    x = np.sin(dec) * np.cos(phi) - np.cos(dec) * np.sin(phi) * np.cos(h)
    az = (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0
    return np.degrees(el), az
