"""Per-country tables and climate grids shipped in ``geoloc/synth/data`` and how they are derived.

Shipped files (rebuild with ``python -m geoloc.synth.tables``; the build is deterministic):

``driving_left.csv``
    Hand-written from general knowledge: the 75 countries and territories (ISO 3166 alpha-2)
    that drive on the left. Every other country drives on the right.
``countries.csv``
    One row per Natural Earth country (``adm0_a3``): ``iso_a2, country, continent,
    style_region, drives_left, script, language, lat, lon`` (centroid, degrees).
    ``continent`` comes from the prefix of the country's first CLDR time zone (babel
    ``territory_zones``: Europe/, Asia/, Africa/, America/, ...; the majority prefix over the
    territory's zones, ocean prefixes only when nothing else; a few overrides) with the Americas split
    into North and South by a fixed list and the ocean prefixes (Indian/, Atlantic/,
    Pacific/) resolved by a small table. ``style_region`` is a k-means cluster of country
    centroids inside each continent (about one region per 8 countries): neighbouring
    countries share a region, which is what makes their cues overlap. ``script`` and
    ``language`` are the CLDR likely subtags of the territory (``und_XX`` -> ``ja_Jpan_JP``; where
    CLDR has no ``und_XX`` entry, the territory's most widely spoken official language).
``climate_grid_1deg.npz``
    Arrays [180, 360] on a 1-degree grid (row 0 = 89.5 N, column 0 = 179.5 W):
    ``continentality`` = land fraction (0..1) seen on rings of 300, 700 and 1,200 km around
    the cell (16 bearings each, NOAA GLOBE land mask via :mod:`geoloc.geo.landsea`), and
    ``west_sea`` = sea fraction on the western bearings of the 700 and 1,200 km rings
    (cold-current deserts and Mediterranean climates sit on western coasts).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pandas as pd

COUNTRIES_FILE = "countries.csv"
DRIVING_LEFT_FILE = "driving_left.csv"
CLIMATE_GRID_FILE = "climate_grid_1deg.npz"

CONTINENTS = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America")

SOUTH_AMERICA = {"AR", "BO", "BR", "CL", "CO", "EC", "FK", "GF", "GY", "PE", "PY", "SR", "UY", "VE", "GS"}
"""ISO alpha-2 codes of South America (CLDR puts all of the Americas under ``America/``)."""

OCEAN_ZONE_CONTINENT = {
    "Indian": {"MV": "Asia", "IO": "Asia", "CC": "Asia", "CX": "Asia", "_": "Africa"},
    "Atlantic": {"IS": "Europe", "FO": "Europe", "BM": "North America", "FK": "South America",
                 "GS": "South America", "_": "Africa"},
}
"""Continent for countries whose first time zone is an ocean zone (``_`` = default)."""

ZONE_PREFIX_CONTINENT = {
    "Europe": "Europe", "Asia": "Asia", "Africa": "Africa", "Australia": "Oceania", "Pacific": "Oceania",
    "Antarctica": "Antarctica", "Arctic": "Europe",
}

CONTINENT_OVERRIDES = {"ES": "Europe", "RU": "Europe", "XK": "Europe", "CY": "Europe"}
"""Territories whose time zones are split or missing (Ceuta, Siberia, Kosovo has no CLDR zone)."""

OCEAN_PREFIXES = ("Atlantic", "Indian", "Pacific")

COUNTRIES_PER_STYLE_REGION = 8
RING_KM = (300.0, 700.0, 1200.0)
N_BEARINGS = 16


def data_path(name: str) -> str:
    """Absolute path of a file shipped in ``geoloc/synth/data``."""
    return str(resources.files("geoloc.synth") / "data" / name)


@functools.lru_cache(maxsize=1)
def driving_left_codes() -> frozenset[str]:
    """ISO alpha-2 codes of countries that drive on the left (shipped table)."""
    return frozenset(pd.read_csv(data_path(DRIVING_LEFT_FILE), na_filter=False)["iso_a2"])


@functools.lru_cache(maxsize=1)
def _countries_cached() -> pd.DataFrame:
    df = pd.read_csv(data_path(COUNTRIES_FILE), na_filter=False)
    return df.set_index("adm0_a3", drop=False)


def load_countries() -> pd.DataFrame:
    """The shipped country table (see module docstring), indexed by ``adm0_a3``. A fresh copy."""
    return _countries_cached().copy()


@functools.lru_cache(maxsize=1)
def load_climate_grid() -> tuple[np.ndarray, np.ndarray]:
    """``(continentality, west_sea)``: read-only float32 arrays [180, 360] (see module docstring)."""
    with np.load(data_path(CLIMATE_GRID_FILE)) as z:
        cont = z["continentality"].astype(np.float32) / 255.0
        west = z["west_sea"].astype(np.float32) / 255.0
    cont.setflags(write=False)
    west.setflags(write=False)
    return cont, west


def grid_index(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """Row and column [N] of the 1-degree cell holding each point (degrees)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    row = np.clip(np.floor(90.0 - lat), 0, 179).astype(np.int64)
    col = np.clip(np.floor(lon + 180.0), 0, 359).astype(np.int64)
    return row, col


# ----------------------------------------------------------------------------------- derivation


def script_of_territory(iso_a2: str) -> tuple[str, str]:
    """``(language, script)`` of a territory from CLDR likely subtags, e.g. ``JP -> (ja, Jpan)``.

    Unknown territories give ``("und", "Latn")``.
    """
    from babel.core import get_global

    likely = get_global("likely_subtags")
    tag = likely.get(f"und_{iso_a2}")
    if not tag:
        # CLDR omits und_XX when it equals a language's default (und_US): take the territory's
        # most widely spoken official language instead, then that language's likely script.
        langs = get_global("territory_languages").get(iso_a2) or {}
        ranked = sorted(langs.items(), key=lambda kv: (kv[1].get("official_status") is None,
                                                       -(kv[1].get("population_percent") or 0.0)))
        if not ranked:
            return "und", "Latn"
        lang = ranked[0][0].split("_")[0]
        tag = likely.get(lang, f"{lang}_Latn")
    parts = tag.split("_")
    lang = parts[0]
    script = next((p for p in parts[1:] if len(p) == 4 and p[0].isupper()), None)
    if script is None:
        script = likely.get(lang, "x_Latn").split("_")[1]
    return lang, script


def continent_of_territory(iso_a2: str, lat: float) -> str:
    """Continent from the first CLDR time zone of the territory (see module docstring)."""
    from babel.core import get_global

    if iso_a2 in CONTINENT_OVERRIDES:
        return CONTINENT_OVERRIDES[iso_a2]
    zones = get_global("territory_zones").get(iso_a2) or []
    if not zones:
        # No time zone (e.g. uninhabited islands): fall back on the centroid's hemisphere.
        return "Antarctica" if lat < -60 else "Oceania"
    prefixes = [z.split("/")[0] for z in zones]
    land = [p for p in prefixes if p not in OCEAN_PREFIXES]
    pool = land or prefixes
    # Majority prefix; ties go to the first listed zone's prefix.
    prefix = max(dict.fromkeys(pool), key=pool.count)
    if prefix == "America":
        return "South America" if iso_a2 in SOUTH_AMERICA else "North America"
    if prefix in OCEAN_ZONE_CONTINENT:
        table = OCEAN_ZONE_CONTINENT[prefix]
        return table.get(iso_a2, table["_"])
    return ZONE_PREFIX_CONTINENT.get(prefix, "Oceania")


def build_country_table() -> pd.DataFrame:
    """Derive ``countries.csv`` from Natural Earth admin-0 and CLDR (see module docstring)."""
    from sklearn.cluster import KMeans

    from geoloc.geo.boundaries import load_admin0

    a0 = load_admin0()
    pts = a0.geometry.to_crs("EPSG:6933").representative_point().to_crs("EPSG:4326")
    df = pd.DataFrame(
        {"adm0_a3": a0["adm0_a3"], "iso_a2": a0["iso_a2"], "country": a0["admin"],
         "lat": pts.y.round(3), "lon": pts.x.round(3)}
    ).sort_values("adm0_a3").reset_index(drop=True)
    df["continent"] = [continent_of_territory(c, la) for c, la in zip(df.iso_a2, df.lat, strict=True)]
    left = driving_left_codes()
    df["drives_left"] = df["iso_a2"].isin(left)
    langs = [script_of_territory(c) for c in df.iso_a2]
    df["language"] = [lang for lang, _ in langs]
    df["script"] = [s for _, s in langs]
    df["style_region"] = ""
    for cont, idx in df.groupby("continent").groups.items():
        sub = df.loc[idx]
        k = max(1, round(len(sub) / COUNTRIES_PER_STYLE_REGION))
        xyz = _unit(sub.lat.to_numpy(), sub.lon.to_numpy())
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(xyz)
        # Name clusters by their mean longitude order so names are stable and readable.
        order = np.argsort(np.argsort([sub.lon.to_numpy()[labels == j].mean() for j in range(k)]))
        df.loc[idx, "style_region"] = [f"{cont.replace(' ', '')}-{order[j]}" for j in labels]
    cols = ["adm0_a3", "iso_a2", "country", "continent", "style_region", "drives_left", "script",
            "language", "lat", "lon"]
    return df[cols]


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    p, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)], axis=1)


def ring_points(lat: np.ndarray, lon: np.ndarray, radius_km: float, bearings_deg: np.ndarray):
    """Destination points [N, B] at ``radius_km`` along each bearing (degrees) from each point."""
    from geoloc.geo.distance import EARTH_RADIUS_KM

    d = radius_km / EARTH_RADIUS_KM
    p1 = np.radians(lat)[:, None]
    l1 = np.radians(lon)[:, None]
    b = np.radians(bearings_deg)[None, :]
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 180.0) % 360.0 - 180.0


def build_climate_grid() -> tuple[np.ndarray, np.ndarray]:
    """Compute ``(continentality, west_sea)`` [180, 360] in 0..1 (see module docstring)."""
    from geoloc.geo.landsea import is_land

    lat = np.repeat(89.5 - np.arange(180.0), 360)
    lon = np.tile(-179.5 + np.arange(360.0), 180)
    bearings = np.arange(N_BEARINGS) * (360.0 / N_BEARINGS)
    west = (bearings > 180.0) & (bearings < 360.0)
    land_sum = np.zeros(lat.size)
    west_sea = np.zeros(lat.size)
    for r in RING_KM:
        la, lo = ring_points(lat, lon, r, bearings)
        land = is_land(np.clip(la, -89.99, 89.99).ravel(), lo.ravel()).reshape(la.shape)
        land_sum += land.mean(axis=1)
        if r > RING_KM[0]:
            west_sea += 1.0 - land[:, west].mean(axis=1)
    cont = (land_sum / len(RING_KM)).reshape(180, 360)
    ws = (west_sea / (len(RING_KM) - 1)).reshape(180, 360)
    return cont, ws


def main() -> None:  # pragma: no cover - data build, run by hand
    build_country_table().to_csv(data_path(COUNTRIES_FILE), index=False)
    cont, ws = build_climate_grid()
    np.savez_compressed(
        data_path(CLIMATE_GRID_FILE),
        continentality=np.round(cont * 255).astype(np.uint8),
        west_sea=np.round(ws * 255).astype(np.uint8),
    )


if __name__ == "__main__":  # pragma: no cover
    main()
