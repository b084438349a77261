"""Country / admin-1 labels of coordinates (Natural Earth), for admin-level accuracy when a
dataset has no label columns: both the predicted and the true point are looked up."""

from __future__ import annotations

import numpy as np


def admin_labels(lat, lon, *, max_km: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """(country ``adm0_a3`` [N], admin-1 ``adm1_code`` [N]) object arrays for points in degrees.

    Uses :func:`geoloc.geo.boundaries.lookup_admin` (points within ``max_km`` of land take the
    nearest unit); points at sea farther than that get None (unknown), so they are excluded
    from the accuracy when they are the true point and count as wrong when predicted.
    """
    from geoloc.geo.boundaries import lookup_admin

    df = lookup_admin(lat, lon, max_km=max_km)
    found = df["index"].to_numpy() >= 0
    country = np.where(found, df["adm0_a3"].to_numpy(dtype=object), None)
    admin1 = np.where(found, df["adm1_code"].to_numpy(dtype=object), None)
    return country.astype(object), admin1.astype(object)
