"""``GeocellSet``: a partition of the Earth's land into classification cells.

A thin class over a GeoDataFrame with one row per cell (row ``i`` is class ``i``):

========== =============================================================
column     meaning
========== =============================================================
name       human-readable name (admin unit, numbered when split)
country    ISO 3166-1 alpha-3 of the cell's country (``adm0_a3``), or ""
country_name country name (Natural Earth ``admin``), or ""
adm1_code  Natural Earth admin-1 code, or ""
admin1     admin-1 name, or ""
size       number of training points in the cell
lat, lon   centroid of the cell's training points (mean on the unit sphere; the
           polygon's representative point when the cell has no points), degrees
geometry   Polygon/MultiPolygon in lon/lat degrees (EPSG:4326)
========== =============================================================

Polygons never overlap. Points inside a polygon belong to it; points outside every polygon
(sea, gaps) belong to the nearest cell (planar distance in degrees). See
:mod:`geoloc.cells.lookup`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from geoloc.errors import InputFileError

FORMAT_VERSION = 1
"""Version of the GeoParquet layout written by :meth:`GeocellSet.save`."""

METADATA_KEY = b"geoloc.geocells"
COLUMNS = ["name", "country", "country_name", "adm1_code", "admin1", "size", "lat", "lon"]


class GeocellSet:
    """Geocells backed by a GeoDataFrame (see the module docstring for the columns).

    Parameters
    ----------
    frame : GeoDataFrame with :data:`COLUMNS` and a geometry column; rows are cells in class order.
    meta : JSON-serialisable description (``kind``: "semantic", "grid", "quadtree" or "kmeans",
        and the build parameters), stored with the file.
    """

    def __init__(self, frame, meta: dict[str, Any] | None = None) -> None:
        import geopandas as gpd

        missing = [c for c in [*COLUMNS, "geometry"] if c not in frame.columns]
        if missing:
            raise ValueError(f"GeocellSet frame lacks columns {missing}")
        frame = gpd.GeoDataFrame(frame[[*COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry")
        if frame.crs is None:
            frame = frame.set_crs("EPSG:4326")
        frame["size"] = frame["size"].astype(np.int64)
        self._frame = frame
        self.meta: dict[str, Any] = dict(meta or {})

    # ------------------------------------------------------------------ basics
    @property
    def frame(self):
        """The backing GeoDataFrame (do not modify in place)."""
        return self._frame

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        kind = self.meta.get("kind", "?")
        return f"GeocellSet({len(self)} {kind} cells, {int(self.sizes.sum())} points)"

    @property
    def geometries(self) -> np.ndarray:
        """Cell polygons [C] (shapely objects, lon/lat degrees)."""
        return np.asarray(self._frame.geometry.values, dtype=object)

    @property
    def centroids(self) -> np.ndarray:
        """Centroids [C, 2] as (lat, lon) degrees, float64."""
        return self._frame[["lat", "lon"]].to_numpy(dtype=np.float64)

    @property
    def sizes(self) -> np.ndarray:
        """Training points per cell [C], int64."""
        return self._frame["size"].to_numpy(dtype=np.int64)

    @functools.cached_property
    def _index(self):
        from geoloc.cells.lookup import PolygonIndex

        return PolygonIndex(self.geometries)

    @property
    def _tree(self):
        return self._index.tree

    # ------------------------------------------------------------------ lookup
    def assign(self, lat, lon) -> np.ndarray:
        """Cell index [N] (int64) for points given in degrees (vectorised).

        A point inside a polygon gets that cell (the lowest index on a shared border); a point
        outside every polygon gets the nearest cell (planar distance in degrees; lowest index
        on ties). Raises :class:`~geoloc.errors.CoordinateError` for NaN/out-of-range rows.
        """
        from geoloc.cells.lookup import locate_points
        from geoloc.geo.validate import check_coordinates

        lat, lon = check_coordinates(lat, lon, what="GeocellSet.assign")
        idx, _ = locate_points(self._index, lon, lat)
        return idx

    @functools.cache  # noqa: B019 - the set is immutable; one cache per instance lifetime is intended
    def _neighbour_lists(self, gap_deg: float) -> tuple[np.ndarray, ...]:
        i, j = self._tree.query(self.geometries, predicate="dwithin", distance=gap_deg)
        keep = i != j
        i, j = i[keep], j[keep]
        order = np.lexsort((j, i))
        i, j = i[order], j[order]
        starts = np.searchsorted(i, np.arange(len(self) + 1))
        return tuple(np.unique(j[starts[c] : starts[c + 1]]) for c in range(len(self)))

    def neighbours(self, i: int, gap_deg: float = 0.02) -> np.ndarray:
        """Indices (sorted, int64) of cells whose polygons lie within ``gap_deg`` degrees of cell ``i``."""
        if not 0 <= int(i) < len(self):
            raise IndexError(f"cell {i} out of range 0..{len(self) - 1}")
        return self._neighbour_lists(float(gap_deg))[int(i)]

    # ------------------------------------------------------------------ reporting
    def summary(self) -> dict[str, Any]:
        """Counts and size statistics: ``cells, points, countries, size_min/median/mean/max,
        empty_cells, kind, top_countries`` (10 countries with most cells: ``[(code, cells, points)]``)."""
        sizes = self.sizes
        f = self._frame
        by_country = (
            f.groupby("country", sort=True)["size"]
            .agg(["count", "sum"])
            .sort_values("count", ascending=False, kind="stable")
        )
        return {
            "kind": self.meta.get("kind", "unknown"),
            "cells": len(self),
            "points": int(sizes.sum()),
            "countries": int((f["country"] != "").groupby(f["country"]).any().sum()),
            "size_min": int(sizes.min()) if len(sizes) else 0,
            "size_median": float(np.median(sizes)) if len(sizes) else 0.0,
            "size_mean": float(sizes.mean()) if len(sizes) else 0.0,
            "size_max": int(sizes.max()) if len(sizes) else 0,
            "empty_cells": int((sizes == 0).sum()),
            "top_countries": [
                (str(c), int(r["count"]), int(r["sum"])) for c, r in by_country.head(10).iterrows()
            ],
        }

    def plot(self, png_path, *, title: str | None = None, dpi: int = 150) -> Path:
        """Draw the cells (coloured) over country outlines into a PNG; returns the path."""
        from geoloc.cells.plot import plot_cells

        return plot_cells(self, png_path, title=title, dpi=dpi)

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write GeoParquet with the format version and ``meta`` in the file metadata."""
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._frame.to_parquet(path, index=False)
        table = pq.read_table(path)
        info = {"format_version": FORMAT_VERSION, "meta": self.meta}
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(info).encode()}
        )
        pq.write_table(table, path)
        return path

    @classmethod
    def load(cls, path) -> GeocellSet:
        """Read a file written by :meth:`save`; a missing, corrupt or foreign file raises
        :class:`~geoloc.errors.InputFileError`."""
        import geopandas as gpd
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"geocell file not found: {path}")
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise InputFileError(f"{path}: not a readable Parquet file ({exc})") from exc
        raw = (schema.metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise InputFileError(f"{path}: not a geoloc geocell file (no '{METADATA_KEY.decode()}' metadata)")
        try:
            info = json.loads(raw)
        except ValueError as exc:
            raise InputFileError(f"{path}: corrupt geocell metadata ({exc})") from exc
        version = info.get("format_version")
        if version != FORMAT_VERSION:
            raise InputFileError(
                f"{path}: geocell format version {version!r}, this geoloc reads {FORMAT_VERSION}"
            )
        try:
            frame = gpd.read_parquet(path)
        except Exception as exc:
            raise InputFileError(f"{path}: cannot read geocells ({exc})") from exc
        missing = [c for c in [*COLUMNS, "geometry"] if c not in frame.columns]
        if missing:
            raise InputFileError(f"{path}: geocell file lacks columns {missing}")
        return cls(frame, info.get("meta") or {})

    def equals(self, other: GeocellSet) -> bool:
        """Same cells in the same order: attributes equal and polygons equal (exactly)."""
        import shapely

        if len(self) != len(other):
            return False
        a, b = self._frame, other._frame
        for c in COLUMNS:
            x, y = a[c].to_numpy(), b[c].to_numpy()
            numeric = x.dtype.kind in "fiu" and y.dtype.kind in "fiu"
            if not np.array_equal(x, y, equal_nan=numeric):
                return False
        return bool(np.all(shapely.equals_exact(self.geometries, other.geometries, tolerance=0.0)))
