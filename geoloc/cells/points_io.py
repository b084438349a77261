"""Read training coordinates from a CSV, TSV or Parquet file (for ``geoloc cells build``).

The file is read by the data layer's manifest reader (same column aliases, same errors); only
``lat``/``lon`` are required here.
"""

from __future__ import annotations

import numpy as np

from geoloc.errors import CoordinateError, InputFileError


def read_points(path) -> tuple[np.ndarray, np.ndarray]:
    """``(lat, lon)`` float64 arrays [N] in degrees from ``path``.

    Columns may be called lat/lon, latitude/longitude, lng, ... in any case (see
    :data:`geoloc.data.manifest.COLUMN_ALIASES`). Raises :class:`~geoloc.errors.InputFileError` for a
    missing/empty/unreadable file or missing columns, and :class:`~geoloc.errors.CoordinateError`
    naming the rows (0-based data rows) with non-numeric, NaN, infinite or out-of-range values.
    """
    import pandas as pd

    from geoloc.data.manifest import LAT, LON, read_manifest
    from geoloc.geo.validate import check_coordinates, describe_rows

    df = read_manifest(path, require_path=False)
    if len(df) == 0:
        raise InputFileError(f"{path}: no data rows")
    lat = pd.to_numeric(df[LAT], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(df[LON], errors="coerce").to_numpy(dtype=np.float64)
    non_numeric = np.flatnonzero(
        (np.isnan(lat) & df[LAT].notna().to_numpy()) | (np.isnan(lon) & df[LON].notna().to_numpy())
    )
    if non_numeric.size:
        raise CoordinateError(f"{path}: non-numeric lat/lon values at {describe_rows(non_numeric)}")
    return check_coordinates(lat, lon, what=str(path))
