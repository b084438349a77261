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


def shard_rows(n: int) -> np.ndarray:
    """This rank's share of ``n`` rows (rows ``rank, rank + W, ...``; all rows in one process)."""
    from representation.distributed.gather import world

    rank, size = world()
    return np.arange(rank, n, size)


def shard_loader(dataset: torch.utils.data.Dataset, rows: np.ndarray, batch_size: int, *, num_workers: int = 0,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """Batches of :func:`geoloc.train.data.collate_locations` over ``rows`` of ``dataset``, in order,
    decoded by ``num_workers`` worker processes (0 = here), in pinned memory for a GPU."""
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, rows.tolist()), batch_size=batch_size, shuffle=False,
        collate_fn=collate_locations, num_workers=num_workers, pin_memory=pin_memory,
        prefetch_factor=4 if num_workers > 0 else None)


def gather_rows(n: int, rows: np.ndarray, arrays: tuple[np.ndarray, ...], fill: tuple[Any, ...], *,
                to: str = "main") -> tuple[np.ndarray, ...] | None:
    """Assemble per-rank row shards into full arrays of ``n`` rows, once: every rank sends
    ``(rows, arrays)``; ``to="main"``: only rank 0 gets the result (None elsewhere), ``"all"``: every
    rank. ``fill``: the value of each array's rows that no rank sent. Identity in one process."""
    from representation.distributed.gather import world
    from representation.distributed.launch import all_gather_objects, gather_objects

    if world()[1] == 1:
        return arrays
    shards = all_gather_objects((rows, arrays)) if to == "all" else gather_objects((rows, arrays))
    if shards is None:
        return None
    out = []
    for j, (a, f) in enumerate(zip(arrays, fill, strict=True)):
        full = np.full((n, *a.shape[1:]), f, dtype=a.dtype)
        for r, parts in shards:  # type: ignore[misc]
            full[r] = parts[j]
        out.append(full)
    return tuple(out)


@torch.no_grad()
def embed_dataset(net: Any, dataset: LocationImages, *, batch_size: int = 128, device: str | torch.device | None = None,
                  progress: bool = True, per_view: bool = False, precision: str = "auto", num_workers: int = 0,
                  gather: str = "all") -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Fused embeddings [N, D] float32 of every location of ``dataset`` (NaN where the images
    did not decode) and the ok mask [N]; ``per_view=True``: the views' own embeddings [N, V, D]
    (the cache :func:`geoloc.train.heads.fit_heads` trains on).

    Under torchrun each rank embeds its share (:func:`shard_rows`) and the shares are gathered once:
    to every rank (``gather="all"``) or only to rank 0 (``"main"``; the others get ``(None, None)``).
    ``device``: None = CUDA when usable; ``precision``: the tower's (bf16 autocast on CUDA by default,
    :mod:`geoloc.model.precision`); ``num_workers``: DataLoader processes decoding the images."""
    from geoloc.model.precision import inference_autocast
    from representation.distributed.gather import world
    from representation.distributed.launch import resolve_device

    if gather not in ("all", "main"):
        raise ValueError(f"gather must be 'all' or 'main', got {gather!r}")
    dev = resolve_device(device, what="embedding")
    was_training = net.training
    net.eval().to(dev)
    rank = world()[0]
    rows = shard_rows(len(dataset))
    views = len(dataset.paths[0]) if per_view and len(dataset) else 0
    emb = np.full((rows.size, *((views,) if per_view else ()), net.embed_dim), np.nan, dtype=np.float32)
    ok = np.zeros(rows.size, dtype=bool)
    loader = shard_loader(dataset, rows, batch_size, num_workers=num_workers, pin_memory=dev.type == "cuda")
    done = 0
    for b in tqdm(loader, desc="embed", unit="batch", disable=not (progress and rank == 0)):
        x = b["images"].to(dev, non_blocking=True)
        with inference_autocast(dev, precision):
            e = net.embed_views(x) if per_view else net.embed(x)
        e = e.float().cpu().numpy()
        good = b["ok"].numpy().astype(bool)
        sl = slice(done, done + len(good))
        emb[sl][good] = e[good]
        ok[sl] = good
        done += len(good)
    net.train(was_training)
    full = gather_rows(len(dataset), rows, (emb, ok), (np.nan, False), to=gather)
    if full is None:
        return None, None
    return full[0], full[1]


def embed_manifest(model_or_bundle: Any, manifest: str | Path | Any, root: str | Path | None = None, *,
                   views: int | None = None, batch_size: int = 128, device: str | torch.device | None = None,
                   cache: bool = False, progress: bool = True, return_locations: bool = False,
                   num_workers: int = 0, precision: str = "auto", gather: str = "all"
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | tuple[Any, ...]:
    """Embed every location of ``manifest`` (path or DataFrame).

    Args:
        model_or_bundle: GeoModel, Bundle, Geolocator or bundle folder.
        views: images per location (default: the bundle's; 1 for a bare GeoModel).
        cache: decode all images into memory first (faster when embedding twice).
        return_locations: also return the :class:`geoloc.train.data.Locations` (skip counts).
        num_workers, precision, gather: see :func:`embed_dataset` (under torchrun ``gather="main"``
            leaves the embeddings on rank 0 only: the others get None for them).

    Returns:
        ``(embeddings [N, D] float32, lat [N], lon [N] float64 degrees, ok [N] bool)`` (+ locations).
    """
    net, default_views = _resolve(model_or_bundle)
    locs: Locations = load_locations(manifest, root=root, views=views or default_views)
    ds = LocationImages(locs, model_transform(net), cache=cache, progress=progress)
    emb, ok = embed_dataset(net, ds, batch_size=batch_size, device=device, progress=progress, num_workers=num_workers,
                            precision=precision, gather=gather)
    out = (emb, locs.lat, locs.lon, ok)
    return (*out, locs) if return_locations else out


__all__ = ["embed_dataset", "embed_manifest", "gather_rows", "model_transform", "shard_loader", "shard_rows"]
