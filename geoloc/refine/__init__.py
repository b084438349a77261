"""PIGEON retrieval refinement: per-geocell location clusters (OPTICS) and batched refinement."""

from __future__ import annotations

from geoloc.refine.io import load_prototypes, save_prototypes
from geoloc.refine.prototypes import (
    PIGEON_STREETVIEW,
    PIGEOTTO,
    LocationPrototypes,
    build_prototypes,
    optics_graph_dense,
    optics_labels,
    spherical_mean,
)
from geoloc.refine.refiner import Refiner, RefineResult
from geoloc.refine.search import PartitionedIndex, segment_best_torch

__all__ = [
    "PIGEON_STREETVIEW",
    "PIGEOTTO",
    "LocationPrototypes",
    "PartitionedIndex",
    "RefineResult",
    "Refiner",
    "build_prototypes",
    "load_prototypes",
    "optics_graph_dense",
    "optics_labels",
    "save_prototypes",
    "segment_best_torch",
    "spherical_mean",
]
