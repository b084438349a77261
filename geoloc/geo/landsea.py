"""Land / sea test from the PyPI package ``global-land-mask``.

The mask is the NOAA GLOBE 1-km (30 arc-second, 21,600 x 43,200) land mask combined with
a coastline correction, as shipped by ``global-land-mask`` (MIT). Importing that package
decompresses the full mask (about 0.9 GB of RAM, ~5 s), so it is imported lazily on the
first call and kept for the life of the process.
"""

from __future__ import annotations

import functools

import numpy as np

from geoloc.geo.validate import check_coordinates


@functools.lru_cache(maxsize=1)
def _globe():
    from global_land_mask import globe

    return globe


def is_land(lat, lon) -> np.ndarray:
    """Boolean array: True where the point (degrees) is on land (1-km grid).

    Scalars give a 0-d array (``bool(is_land(48.85, 2.35))`` works); array-likes give a 1-D
    array [N]. Invalid coordinates raise :class:`~geoloc.errors.CoordinateError` naming rows.
    """
    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = check_coordinates(lat, lon, what="is_land")
    if lat.size == 0:
        return np.zeros(0, dtype=bool)
    out = np.asarray(_globe().is_land(lat, lon), dtype=bool)
    return out.reshape(()) if scalar else out


def is_sea(lat, lon) -> np.ndarray:
    """``~is_land(lat, lon)``."""
    return ~is_land(lat, lon)
