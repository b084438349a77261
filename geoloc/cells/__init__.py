"""Semantic geocells (PIGEON) and baseline partitions.

Public API (imported lazily; geopandas loads on first use):

* :func:`build_geocells` -> ``(GeocellSet, BuildReport)``
* :class:`GeocellSet`: ``assign``, ``centroids``, ``neighbours``, ``summary``, ``save``/``load``, ``plot``
* baselines with the same interface: :func:`grid_cells`, :func:`quadtree_cells`, :func:`kmeans_cells`
* OPTICS parameter sets :data:`OPTICS_PARAMS_PIGEON`, :data:`OPTICS_PARAMS_YFCC`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from geoloc.cells.baselines import grid_cells, kmeans_cells, quadtree_cells
    from geoloc.cells.build import BuildReport, build_geocells
    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.cells.partition import OPTICS_PARAMS_PIGEON, OPTICS_PARAMS_YFCC

_EXPORTS = {
    "build_geocells": "geoloc.cells.build",
    "BuildReport": "geoloc.cells.build",
    "GeocellSet": "geoloc.cells.geocell_set",
    "grid_cells": "geoloc.cells.baselines",
    "quadtree_cells": "geoloc.cells.baselines",
    "kmeans_cells": "geoloc.cells.baselines",
    "OPTICS_PARAMS_PIGEON": "geoloc.cells.partition",
    "OPTICS_PARAMS_YFCC": "geoloc.cells.partition",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'geoloc.cells' has no attribute {name!r}")


__all__ = [
    "OPTICS_PARAMS_PIGEON",
    "OPTICS_PARAMS_YFCC",
    "BuildReport",
    "GeocellSet",
    "build_geocells",
    "grid_cells",
    "kmeans_cells",
    "quadtree_cells",
]
