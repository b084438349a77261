"""The data layer: manifests, robust image decoding, EXIF GPS, panoramas, WebDataset shards,
standard benchmark label formats, and torch datasets over manifests and shards.

Public names are importable from ``geoloc.data`` directly; the torch-dependent ones
(datasets, transforms) are loaded lazily so that ``import geoloc.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # manifest
    "LAT": "manifest", "LON": "manifest", "PATH": "manifest", "ID": "manifest", "VIEW": "manifest",
    "HEADING": "manifest", "REQUIRED_COLUMNS": "manifest", "OPTIONAL_COLUMNS": "manifest",
    "COLUMN_ALIASES": "manifest", "RowProblem": "manifest", "ValidationReport": "manifest",
    "read_manifest": "manifest", "validate_manifest": "manifest", "write_manifest": "manifest",
    "normalize_columns": "manifest", "resolve_paths": "manifest",
    # images
    "DEFAULT_MAX_PIXELS": "images", "IMAGE_EXTENSIONS": "images", "load_image": "images",
    "expand_image_paths": "images",
    "open_image": "images", "to_rgb": "images", "encode_image": "images",
    # exif
    "GPSFix": "exif", "read_exif_gps": "exif",
    # panoramas and view groups
    "split_panorama": "panorama", "equirect_to_perspective": "panorama", "group_views": "panorama",
    # shards
    "write_shards": "shards", "read_shards": "shards", "manifest_to_shards": "shards",
    # benchmark label formats
    "read_im2gps": "formats", "read_yfcc": "formats", "read_osv5m": "formats",
    "read_benchmark": "formats", "BENCHMARK_FORMATS": "formats", "ColumnOrderWarning": "formats",
    # torch
    "ManifestDataset": "datasets", "ShardDataset": "datasets", "collate_skip_failed": "datasets",
    "worker_init_fn": "datasets", "make_loader": "datasets", "open_clip_transform": "datasets",
    "default_transform": "datasets", "FailedSample": "datasets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geoloc.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"geoloc.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
