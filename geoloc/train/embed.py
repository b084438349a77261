"""Embed locations with a GeoModel: the fused embedding used for prototypes and kNN retrieval.

``embed_manifest(model_or_bundle, manifest, root=None, views=...)`` returns
``(embeddings [N, D] float32, lat [N], lon [N] degrees, ok [N] bool)`` over the manifest's
locations (rows grouped by ``id`` when ``views > 1``). Locations whose images cannot be
decoded have ``ok=False`` and NaN embeddings; invalid manifest rows and locations with the
wrong view count are left out and counted (``return_locations=True`` gives the counts).
Under torchrun each rank embeds a strided share and the results are gathered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from geoloc.errors import GeolocError
from geoloc.train.data import LocationImages, Locations, collate_locations, load_locations


def model_transform(net_or_config: Any) -> Any:
    """open_clip preprocessing of a :class:`geoloc.model.GeoModel` or its
    :class:`geoloc.model.GeoModelConfig` (the same one the bundle records)."""
    from geoloc.bundle import _preprocessing
    from geoloc.data.datasets import open_clip_transform

    return open_clip_transform(_preprocessing(getattr(net_or_config, "config", net_or_config)))


def _resolve(model_or_bundle: Any) -> tuple[Any, int]:
    """(GeoModel, default views) from a GeoModel, Bundle, Geolocator or bundle folder."""
    from geoloc.bundle import Bundle, load_bundle
    from geoloc.model import GeoModel

    if isinstance(model_or_bundle, str | Path):
        model_or_bundle = load_bundle(model_or_bundle)
    if isinstance(model_or_bundle, Bundle):
        return model_or_bundle.model, int(model_or_bundle.config["views"])
    if isinstance(model_or_bundle, GeoModel):
        return model_or_bundle, 1
    if hasattr(model_or_bundle, "bundle"):
        return model_or_bundle.bundle.model, int(model_or_bundle.bundle.config["views"])
    raise GeolocError(f"cannot embed with a {type(model_or_bundle).__name__}: pass a GeoModel, a Bundle, a "
                      f"Geolocator or a bundle folder")


@torch.no_grad()
def embed_dataset(net: Any, dataset: LocationImages, *, batch_size: int = 128, device: str | torch.device | None = None,
                  progress: bool = True, per_view: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fused embeddings [N, D] float32 of every location of ``dataset`` (NaN where the images
    did not decode) and the ok mask [N]; ``per_view=True``: the views' own embeddings [N, V, D]
    (the cache :func:`geoloc.train.heads.fit_heads` trains on). Sharded over ranks under torchrun."""
    import torch.distributed as dist

    from representation.distributed.gather import world

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    was_training = net.training
    net.eval().to(dev)
    rank, n_ranks = world()
    idx = np.arange(rank, len(dataset), n_ranks)
    views = len(dataset.paths[0]) if per_view and len(dataset) else 0
    emb = np.full((len(dataset), *((views,) if per_view else ()), net.embed_dim), np.nan, dtype=np.float32)
    ok = np.zeros(len(dataset), dtype=bool)
    starts = range(0, idx.size, batch_size)
    for s in tqdm(starts, desc="embed", unit="batch", disable=not (progress and rank == 0)):
        part = idx[s:s + batch_size]
        b = collate_locations([dataset[int(i)] for i in part])
        x = b["images"].to(dev)
        e = (net.embed_views(x) if per_view else net.embed(x)).float().cpu().numpy()
        good = b["ok"].numpy().astype(bool)
        emb[part[good]] = e[good]
        ok[part] = good
    if n_ranks > 1:
        shards: list[Any] = [None] * n_ranks
        dist.all_gather_object(shards, (idx, emb[idx], ok[idx]))
        for i, e, o in shards:
            emb[i], ok[i] = e, o
    net.train(was_training)
    return emb, ok


def embed_manifest(model_or_bundle: Any, manifest: str | Path | Any, root: str | Path | None = None, *,
                   views: int | None = None, batch_size: int = 128, device: str | torch.device | None = None,
                   cache: bool = False, progress: bool = True, return_locations: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | tuple[Any, ...]:
    """Embed every location of ``manifest`` (path or DataFrame).

    Args:
        model_or_bundle: GeoModel, Bundle, Geolocator or bundle folder.
        views: images per location (default: the bundle's; 1 for a bare GeoModel).
        cache: decode all images into memory first (faster when embedding twice).
        return_locations: also return the :class:`geoloc.train.data.Locations` (skip counts).

    Returns:
        ``(embeddings [N, D] float32, lat [N], lon [N] float64 degrees, ok [N] bool)`` (+ locations).
    """
    net, default_views = _resolve(model_or_bundle)
    locs: Locations = load_locations(manifest, root=root, views=views or default_views)
    ds = LocationImages(locs, model_transform(net), cache=cache, progress=progress)
    emb, ok = embed_dataset(net, ds, batch_size=batch_size, device=device, progress=progress)
    out = (emb, locs.lat, locs.lon, ok)
    return (*out, locs) if return_locations else out


__all__ = ["embed_dataset", "embed_manifest", "model_transform"]
