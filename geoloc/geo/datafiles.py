"""Paths of the data files shipped in ``geoloc/geo/data`` (no heavy imports)."""

from __future__ import annotations

from importlib import resources


def data_path(name: str) -> str:
    """Absolute path of a data file shipped in ``geoloc/geo/data``."""
    return str(resources.files("geoloc.geo") / "data" / name)
