"""What the project's own geography says about a point: the facts behind captions and labels.

:func:`location_facts` is the one place that turns coordinates into the metadata PIGEON's
captions and auxiliary heads use: country and admin-1 (Natural Earth), the nearest town and
its admin-2 district (GeoNames gazetteer), continent, driving side, script and language (the
shipped per-country table), and a Köppen-like climate class. SynthWorld builds its scenes from
these facts, and training derives them for any manifest that has coordinates, so a real photo
and a synthetic scene at the same place get the same caption facts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FACT_COLUMNS = [
    "adm0_a3", "iso_a2", "country", "adm1_code", "admin1", "town", "town_lat", "town_lon", "town_km",
    "town_cc", "town_admin1", "district", "continent", "style_region", "drives_left", "script", "language", "climate",
]
"""Columns of :func:`location_facts` (``country`` is the country's name, ``admin1`` the unit's name)."""

NONE = "none"


def location_facts(lat, lon) -> pd.DataFrame:
    """Facts [N] about points given in degrees (columns :data:`FACT_COLUMNS`).

    Points more than 25 km from any country get ``none`` for the country-level facts and
    ``drives_left`` False; ``town_km`` is the distance (km) to the nearest gazetteer place;
    ``town_cc`` / ``town_admin1`` / ``district`` are that place's GeoNames country code, admin-1
    and admin-2 names ("" where GeoNames has none). Invalid
    coordinates raise :class:`~geoloc.errors.CoordinateError` (validate manifests first).
    """
    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.gazetteer import nearest_place
    from geoloc.synth.attributes import climate_class
    from geoloc.synth.tables import load_countries

    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    adm = lookup_admin(lat, lon)
    town = nearest_place(lat, lon)
    countries = load_countries()
    known = adm["adm0_a3"].isin(countries.index).to_numpy()
    crow = countries.reindex(adm["adm0_a3"].where(known, countries.index[0]))

    def col(name: str, fill: object) -> np.ndarray:
        return np.where(known, crow[name].to_numpy(), fill)

    return pd.DataFrame({
        "adm0_a3": adm["adm0_a3"].to_numpy(),
        "iso_a2": adm["iso_a2"].to_numpy(),
        "country": adm["country"].to_numpy(),
        "adm1_code": adm["adm1_code"].to_numpy(),
        "admin1": adm["admin1"].to_numpy(),
        "town": town["name"].to_numpy(),
        "town_lat": town["lat"].to_numpy(),
        "town_lon": town["lon"].to_numpy(),
        "town_km": town["distance_km"].to_numpy(),
        "town_cc": town["cc"].to_numpy(),
        "town_admin1": town["admin1"].to_numpy(),
        "district": town["admin2"].to_numpy(),
        "continent": col("continent", NONE),
        "style_region": col("style_region", NONE),
        "drives_left": col("drives_left", False).astype(bool),
        "script": col("script", "Latn"),
        "language": col("language", "und"),
        "climate": climate_class(lat, lon),
    })[FACT_COLUMNS]


__all__ = ["FACT_COLUMNS", "location_facts"]
