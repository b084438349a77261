"""Land / sea test on the 1-km land mask of the PyPI package ``global-land-mask``.

The mask is NOAA's GLOBE 30 arc-second grid (21,600 x 43,200 cells, about 1 km) combined
with a coastline correction, as shipped by ``global-land-mask`` (MIT). That package's own
import decompresses the mask into a 0.93 GB boolean array. Here the same file is streamed
and bit-packed row block by row block instead: 117 MB resident (peak ~0.2 GB), loaded once
per process on the first call. Lookups use exactly the package's cell indexing, so results
are identical to ``global_land_mask.globe.is_land`` (tested).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from geoloc.geo.validate import check_coordinates

MASK_FILE = "globe_combined_mask_compressed.npz"
_ROWS_PER_BLOCK = 540


@dataclass(frozen=True)
class PackedLandMask:
    """Bit-packed land mask: ``bits`` [n_lat, ceil(n_lon / 8)] uint8 (MSB first, 1 = land) and the
    grid: cell centre latitudes/longitudes start at ``lat0``/``lon0`` (degrees) with steps
    ``dlat`` (negative: north to south) and ``dlon``; ``lat_min..lat_max``/``lon_min..lon_max`` are
    the first and last grid values (queries are clamped to them, as in ``global-land-mask``)."""

    bits: np.ndarray
    n_lat: int
    n_lon: int
    lat0: float
    dlat: float
    lat_min: float
    lat_max: float
    lon0: float
    dlon: float
    lon_min: float
    lon_max: float

    def rows_cols(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid indices [N] of points (degrees), exactly as ``global_land_mask.globe``."""
        lat = np.clip(lat, self.lat_min, self.lat_max)
        lon = np.clip(lon, self.lon_min, self.lon_max)
        rows = ((lat - self.lat0) / self.dlat).astype(np.int64)
        cols = ((lon - self.lon0) / self.dlon).astype(np.int64)
        return rows, cols

    def lookup(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean [N]: land at the grid cells of the points."""
        rows, cols = self.rows_cols(lat, lon)
        byte = self.bits[rows, cols >> 3]
        return ((byte >> (7 - (cols & 7))) & 1).astype(bool)


def mask_path() -> str:
    """Path of the mask file inside the installed ``global_land_mask`` package.

    Found with ``find_spec``, which does not import the package (its import would decompress
    the whole mask)."""
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the PyPI package global-land-mask is not installed", name="global_land_mask"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), MASK_FILE)


def _read_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


@functools.lru_cache(maxsize=1)
def load_packed_mask() -> PackedLandMask:
    """Read and bit-pack the ``global-land-mask`` grid (cached for the process)."""
    with zipfile.ZipFile(mask_path()) as z:
        with z.open("lat.npy") as f:
            lat = np.load(f)
        with z.open("lon.npy") as f:
            lon = np.load(f)
        with z.open("mask.npy") as f:
            (n_lat, n_lon), fortran, dtype = _read_header(f)
            if fortran or np.dtype(dtype) != np.bool_ or (n_lat, n_lon) != (lat.size, lon.size):
                raise RuntimeError(f"unexpected land mask layout in {mask_path()}")
            bits = np.empty((n_lat, (n_lon + 7) // 8), dtype=np.uint8)
            for r in range(0, n_lat, _ROWS_PER_BLOCK):
                k = min(_ROWS_PER_BLOCK, n_lat - r)
                block = np.frombuffer(f.read(k * n_lon), dtype=np.uint8).reshape(k, n_lon)
                bits[r : r + k] = np.packbits(block == 0, axis=1)  # the file stores ocean = True
    bits.setflags(write=False)
    return PackedLandMask(
        bits=bits,
        n_lat=int(n_lat),
        n_lon=int(n_lon),
        lat0=float(lat[0]),
        dlat=float(lat[1] - lat[0]),
        lat_min=float(lat.min()),
        lat_max=float(lat.max()),
        lon0=float(lon[0]),
        dlon=float(lon[1] - lon[0]),
        lon_min=float(lon.min()),
        lon_max=float(lon.max()),
    )


def is_land(lat, lon) -> np.ndarray:
    """Boolean array: True where the point (degrees) is on land (1-km grid).

    Scalars give a 0-d array (``bool(is_land(48.85, 2.35))`` works); array-likes give a 1-D
    array [N]. Invalid coordinates raise :class:`~geoloc.errors.CoordinateError` naming rows.
    The first call loads the mask (a few seconds).
    """
    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = check_coordinates(lat, lon, what="is_land")
    if lat.size == 0:
        return np.zeros(0, dtype=bool)
    out = load_packed_mask().lookup(lat, lon)
    return out.reshape(()) if scalar else out


def is_sea(lat, lon) -> np.ndarray:
    """``~is_land(lat, lon)``: True where the point (degrees) is at sea (1-km grid)."""
    return ~is_land(lat, lon)
