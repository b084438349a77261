"""Small spherical helpers (degrees): unit vectors, mean position on the unit sphere, local planar projection."""

from __future__ import annotations

import numpy as np


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit vectors [N, 3] for latitudes/longitudes [N] in degrees."""
    p = np.radians(np.asarray(lat, dtype=np.float64))
    q = np.radians(np.asarray(lon, dtype=np.float64))
    cp = np.cos(p)
    return np.stack([cp * np.cos(q), cp * np.sin(q), np.sin(p)], axis=-1)


def vectors_to_latlon(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude [N] in degrees of (not necessarily unit) vectors [N, 3]."""
    v = np.asarray(v, dtype=np.float64)
    lat = np.degrees(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1])))
    lon = np.degrees(np.arctan2(v[..., 1], v[..., 0]))
    return lat, lon


def grouped_spherical_mean(
    lat: np.ndarray, lon: np.ndarray, labels: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean position on the unit sphere of the points of each group.

    Parameters
    ----------
    lat, lon : [N] degrees; labels : [N] ints in ``[0, n_groups)``.

    Returns
    -------
    ``(lat [G], lon [G], ok [G] bool)``: the normalised mean unit vector as degrees; ``ok`` is False
    for groups without points or whose points cancel out (mean vector of length < 1e-9), where
    lat/lon are NaN.
    """
    v = unit_vectors(lat, lon)
    s = np.zeros((n_groups, 3))
    np.add.at(s, np.asarray(labels, dtype=np.int64), v)
    norm = np.linalg.norm(s, axis=1)
    ok = norm > 1e-9
    out_lat, out_lon = vectors_to_latlon(s)
    out_lat = np.where(ok, out_lat, np.nan)
    out_lon = np.where(ok, out_lon, np.nan)
    return out_lat, out_lon, ok


def local_xy(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Equirectangular projection [N, 2] in degrees of latitude around the points' mean latitude.

    ``x = lon * cos(mean lat)``, ``y = lat``: distances are roughly isotropic locally, which is
    what density clustering needs; longitudes are not unwrapped (cells never span 360 degrees).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    c = np.cos(np.radians(np.clip(lat.mean() if lat.size else 0.0, -89.0, 89.0)))
    return np.stack([lon * c, lat], axis=1)
