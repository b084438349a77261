"""Save / load :class:`LocationPrototypes`: arrays in safetensors, metadata in JSON. Never pickle.

Files (``name`` defaults to ``prototypes``): ``<dir>/<name>.safetensors`` (every array) and
``<dir>/<name>.json`` (format name and version, build parameters, shapes, and the SHA-256 of
the safetensors file). Loading checks the hash, the shapes and the offsets; a missing,
truncated or altered file raises :class:`geoloc.errors.BundleError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from geoloc.errors import BundleError
from geoloc.integrity import read_json, sha256_file
from geoloc.refine.prototypes import LocationPrototypes

FORMAT = "geoloc.location-prototypes"
VERSION = 1
ARRAYS = ("embeddings", "cell", "centroid", "cell_offsets", "member_offsets", "member_coords",
          "member_embeddings", "member_rows", "cell_centroids")


def save_prototypes(prototypes: LocationPrototypes, directory: str | Path, name: str = "prototypes") -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json`` into ``directory``; returns the JSON path."""
    from safetensors.numpy import save_file

    prototypes.validate()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(getattr(prototypes, k)) for k in ARRAYS}
    st = directory / f"{name}.safetensors"
    save_file(tensors, str(st))
    meta = {
        "format": FORMAT, "version": VERSION, "params": prototypes.params,
        "num_prototypes": prototypes.num_prototypes, "num_cells": prototypes.num_cells,
        "dim": prototypes.dim, "num_members": int(prototypes.member_rows.shape[0]),
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()},
        "safetensors": st.name, "sha256": sha256_file(st),
    }
    js = directory / f"{name}.json"
    js.write_text(json.dumps(meta, indent=2) + "\n")
    return js


def load_prototypes(directory: str | Path, name: str = "prototypes", *, verify_hash: bool = True) -> LocationPrototypes:
    """Read prototypes written by :func:`save_prototypes` (raises BundleError if broken)."""
    from safetensors.numpy import load_file

    directory = Path(directory)
    js, st = directory / f"{name}.json", directory / f"{name}.safetensors"
    for p in (js, st):
        if not p.is_file():
            raise BundleError(f"prototype file {p} is missing")
    meta = read_json(js)
    if meta.get("format") != FORMAT:
        raise BundleError(f"{js}: not a location-prototypes file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise BundleError(f"{js}: unsupported prototypes version {meta.get('version')!r} (expected {VERSION})")
    if verify_hash and sha256_file(st) != meta.get("sha256"):
        raise BundleError(f"{st} does not match the SHA-256 recorded in {js} (truncated or altered)")
    try:
        arrays = load_file(str(st))
    except Exception as exc:
        raise BundleError(f"{st} could not be read: {exc}") from exc
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise BundleError(f"{st} lacks arrays {missing}")
    for k in ARRAYS:
        if list(arrays[k].shape) != meta["arrays"][k]["shape"]:
            raise BundleError(f"{st}: array {k} has shape {list(arrays[k].shape)}, {js} says "
                              f"{meta['arrays'][k]['shape']}")
    protos = LocationPrototypes(**{k: arrays[k] for k in ARRAYS}, params=dict(meta.get("params", {})))
    try:
        protos.validate()
    except ValueError as exc:
        raise BundleError(f"{st}: {exc}") from exc
    return protos
