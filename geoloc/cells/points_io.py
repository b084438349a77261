"""Read training coordinates from a CSV or Parquet file (for ``geoloc cells build``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geoloc.errors import CoordinateError, InputFileError

LAT_NAMES = ("lat", "latitude", "lat_deg")
LON_NAMES = ("lon", "lng", "long", "longitude", "lon_deg")


def _find(columns, names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def read_points(path) -> tuple[np.ndarray, np.ndarray]:
    """``(lat, lon)`` float64 arrays [N] in degrees from ``path``.

    CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``); the columns may be
    called lat/lon, latitude/longitude, lng, in any case. Raises
    :class:`~geoloc.errors.InputFileError` for a missing/empty/unreadable file or missing
    columns, and :class:`~geoloc.errors.CoordinateError` naming the rows (0-based data rows)
    with non-numeric, NaN, infinite or out-of-range values.
    """
    import pandas as pd

    from geoloc.geo.validate import check_coordinates, describe_rows

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"points file not found: {path}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
        elif name.endswith((".tsv", ".tsv.gz")):
            df = pd.read_csv(path, sep="\t")
        else:
            df = pd.read_csv(path)
    except Exception as exc:
        raise InputFileError(f"{path}: cannot read points ({type(exc).__name__}: {exc})") from exc
    lat_col, lon_col = _find(df.columns, LAT_NAMES), _find(df.columns, LON_NAMES)
    if lat_col is None or lon_col is None:
        raise InputFileError(
            f"{path}: needs latitude and longitude columns (lat/lon, latitude/longitude or lng); "
            f"found {[str(c) for c in df.columns]}"
        )
    if len(df) == 0:
        raise InputFileError(f"{path}: no data rows")
    lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=np.float64)
    non_numeric = np.flatnonzero(
        (np.isnan(lat) & df[lat_col].notna().to_numpy()) | (np.isnan(lon) & df[lon_col].notna().to_numpy())
    )
    if non_numeric.size:
        raise CoordinateError(
            f"{path}: non-numeric '{lat_col}'/'{lon_col}' values at {describe_rows(non_numeric)}"
        )
    return check_coordinates(lat, lon, what=str(path))
