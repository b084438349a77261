"""Geographic prior over geocells, and where photos are taken inside each cell.

CLIP's prompt softmax treats every geocell as equally likely before it sees the image; most photos
are taken in a few places. The prior says how likely each cell is a priori:

* ``density``: the project's photo-density prior (:mod:`geoloc.geo.density`, 100,000 real MP-16
  Flickr photo coordinates) counted per cell (every point goes to the cell that contains it, or the
  nearest one), plus ``pseudo_count`` per cell;
* ``cells``: the training locations per cell (the geocell file's ``size`` column: what the cells were
  built from), plus ``pseudo_count``;
* ``uniform``: every cell alike (no prior).

:func:`density_modes` gives, per cell, the mean of the prior's points in the cell's densest
``bin_deg`` x ``bin_deg`` bin: where photos in that cell cluster (a better point guess than the
polygon's centroid, which can lie in an empty desert); :class:`DensityRefiner` uses it as a
training-free retrieval refinement with :class:`geoloc.refine.Refiner`'s interface.
"""

from __future__ import annotations

import numpy as np

PRIOR_SOURCES = ("density", "cells", "uniform")
PSEUDO_COUNT = 0.5
"""Added to every cell's count (Jeffreys-style): a cell without any prior photo keeps a small,
finite log-probability instead of minus infinity."""


_ASSIGNED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def prior_cells(geocells) -> tuple[np.ndarray, np.ndarray]:
    """Cell of every prior photo point ([P] int64: the containing cell, else the nearest) and whether it
    lies outside every cell ([P] bool); computed once per geocell set and process."""
    from geoloc.bundle import geocell_set_id
    from geoloc.cells.lookup import locate_points
    from geoloc.geo.density import load_photo_prior

    key = geocell_set_id(geocells)
    if key not in _ASSIGNED:
        lat, lon = load_photo_prior()
        _ASSIGNED.clear()  # one set at a time: the arrays are 100k long
        _ASSIGNED[key] = locate_points(geocells._index, lon, lat)
    return _ASSIGNED[key]


def _density_counts(geocells) -> np.ndarray:
    idx, _ = prior_cells(geocells)
    return np.bincount(idx[idx >= 0], minlength=len(geocells)).astype(np.float64)


def cell_counts(geocells, source: str = "density") -> np.ndarray:
    """Prior count per cell ([C] float64, before the pseudo-count) for ``source`` (module docstring)."""
    from geoloc.errors import GeolocError

    if source == "density":
        return _density_counts(geocells)
    if source == "cells":
        size = geocells.frame["size"].to_numpy(dtype=np.float64)
        return np.where(np.isfinite(size) & (size > 0), size, 0.0)
    if source == "uniform":
        return np.zeros(len(geocells), dtype=np.float64)
    raise GeolocError(f"unknown prior {source!r}; use one of {', '.join(PRIOR_SOURCES)}")


def cell_log_prior(geocells, source: str = "density", *, pseudo_count: float = PSEUDO_COUNT) -> np.ndarray:
    """log prior(c) ([C] float64, ``logsumexp = 0``): ``log((n_c + a) / sum_j (n_j + a))`` with the counts of
    :func:`cell_counts` and ``a = pseudo_count`` (> 0); ``uniform`` gives ``-log C`` everywhere."""
    counts = cell_counts(geocells, source) + float(pseudo_count)
    if pseudo_count <= 0 and not np.all(counts > 0):
        raise ValueError("pseudo_count must be > 0 when a cell has no prior count")
    return np.log(counts) - np.log(counts.sum())


def density_modes(geocells, *, bin_deg: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: (lat [C], lon [C] in degrees, n [C] prior points inside the cell's polygon). The point is
    the mean of the prior points inside the cell in its most populated ``bin_deg``-degree bin (lowest bin
    id on ties); a cell without prior points inside keeps its centroid."""
    from geoloc.geo.density import load_photo_prior

    lat, lon = load_photo_prior()
    cell, outside = prior_cells(geocells)
    cell = np.where(outside, -1, cell)
    n_cells = len(geocells)
    out_lat = geocells.centroids[:, 0].astype(np.float64).copy()
    out_lon = geocells.centroids[:, 1].astype(np.float64).copy()
    n = np.bincount(cell[cell >= 0], minlength=n_cells)
    nlat, nlon = int(np.ceil(180.0 / bin_deg)) + 1, int(np.ceil(360.0 / bin_deg)) + 1
    grid = np.floor((lat + 90.0) / bin_deg).astype(np.int64) * nlon + np.floor((lon + 180.0) / bin_deg).astype(np.int64)
    keep = cell >= 0
    if not keep.any():
        return out_lat, out_lon, n
    key = cell[keep] * (nlat * nlon) + grid[keep]
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    ucell = uniq // (nlat * nlon)
    order = np.lexsort((uniq, -cnt, ucell))            # by cell, then most points, then lowest bin id
    first = order[np.r_[True, ucell[order][1:] != ucell[order][:-1]]]
    c = ucell[first]
    # plain means: a bin starts at -180 + k * bin_deg, so none spans the antimeridian
    out_lat[c] = np.bincount(inv, weights=lat[keep])[first] / cnt[first]
    out_lon[c] = np.bincount(inv, weights=lon[keep])[first] / cnt[first]
    return out_lat, out_lon, n


class DensityRefiner:
    """Training-free refinement: the guess is the photo-density mode (:func:`density_modes`) of the most
    probable cell instead of its centroid. Same ``refine(embeddings, probs)`` interface and result type
    as :class:`geoloc.refine.Refiner` (cluster / member / train_row are -1: there are no prototypes)."""

    def __init__(self, geocells, *, bin_deg: float = 0.25) -> None:
        self.lat, self.lon, self.n = density_modes(geocells, bin_deg=bin_deg)

    def refine(self, embeddings, probs: np.ndarray):
        from geoloc.refine.refiner import RefineResult

        p = np.asarray(probs, dtype=np.float64)
        top = np.argmax(p, axis=1)
        b = len(top)
        none = np.full(b, -1, dtype=np.int64)
        return RefineResult(lat=self.lat[top].copy(), lon=self.lon[top].copy(), cell=top.astype(np.int64),
                            cluster=none, member=none.copy(), train_row=none.copy(), rank=np.zeros(b, dtype=np.int64),
                            weight=p[np.arange(b), top], fallback=self.n[top] == 0, capped=np.zeros(b, dtype=bool))


__all__ = ["PRIOR_SOURCES", "PSEUDO_COUNT", "DensityRefiner", "cell_counts", "cell_log_prior", "density_modes",
           "prior_cells"]
