"""Small, fast fixtures for tests and examples: a randomly initialised tiny bundle.

The weights are random, so predictions are meaningless; the bundle is complete and valid
(geocells from prior photo locations, prototypes from random embeddings), which is what the
front ends' and the API's tests need. Real models come from ``geoloc train``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

TINY_CARD = {"title": "random tiny test bundle",
             "data": "random weights; geocells from prior photo locations (tests only)",
             "training_command": "none (untrained: geoloc.testing.tiny_bundle_parts)",
             "metrics": {}, "metrics_command": "none"}


def tiny_bundle_parts(n_points: int = 300, *, seed: int = 5, min_size: int = 8, max_size: int = 40,
                      aux_heads: dict[str, int] | None = None) -> dict[str, Any]:
    """A random ``geoloc-tiny-vit`` GeoModel, a GeocellSet built from ``n_points`` prior photo
    locations, and prototypes from random embeddings (OPTICS clusters of those points).

    Returns ``{"model", "config", "geocells", "prototypes", "lat", "lon", "labels"}``.
    """
    import torch

    from geoloc.cells import build_geocells
    from geoloc.geo import sample_photo_locations
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.refine import build_prototypes

    lat, lon = sample_photo_locations(n_points, seed=seed)
    cells, report = build_geocells(lat, lon, min_size=min_size, max_size=max_size, progress=False)
    torch.manual_seed(0)
    cfg = GeoModelConfig(num_cells=len(cells), tower="geoloc-tiny-vit",
                         aux_heads={"climate": 5} if aux_heads is None else aux_heads)
    model = GeoModel(cfg).eval()
    emb = np.random.default_rng(0).normal(size=(lat.size, model.embed_dim)).astype(np.float32)
    protos = build_prototypes(report.labels, lat, lon, emb, len(cells), progress=False)
    return {"model": model, "config": cfg, "geocells": cells, "prototypes": protos,
            "lat": lat, "lon": lon, "labels": report.labels}


def tiny_bundle(path: str | Path, *, views: int = 1, parts: dict[str, Any] | None = None,
                card: dict[str, Any] | None = None) -> Path:
    """Write a random tiny bundle to ``path`` (see :func:`tiny_bundle_parts`; model card ``card``,
    default :data:`TINY_CARD`) and return ``path``."""
    from geoloc.bundle import save_bundle

    parts = parts or tiny_bundle_parts()
    save_bundle(path, model=parts["model"], config=parts["config"], geocells=parts["geocells"],
                prototypes=parts["prototypes"], card=card or TINY_CARD, views=views)
    return Path(path)


def fake_hub_repo(cache_dir: str | Path, repo_id: str, files: dict[str, bytes | str | Path], *,
                  repo_type: str = "model", commit: str | None = None, ref: str = "main") -> Path:
    """Write a repository into a Hugging Face cache folder exactly as ``huggingface_hub`` lays it out
    (``blobs/<sha256>``, ``snapshots/<commit>/<name>`` symlinks, ``refs/<ref>``), so that code reading
    the Hub (``hf-hub:`` bundles, open_clip weights, data sets) can be tested offline. ``files`` maps
    a path inside the repository to its bytes, or to a local file to copy. Returns the snapshot folder."""
    import hashlib

    root = Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = commit or hashlib.sha1(repr(sorted(files)).encode() + repo_id.encode()).hexdigest()
    snap = root / "snapshots" / commit
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (root / "refs" / ref).write_text(commit)
    return snap


__all__ = ["TINY_CARD", "fake_hub_repo", "tiny_bundle", "tiny_bundle_parts"]
