"""torch datasets over manifests and WebDataset shards.

Every sample is a dict::

    images  float tensor [V, 3, H, W]   (V = views per location; the transform's output)
    lat     float32 tensor []            degrees
    lon     float32 tensor []            degrees
    index   int                          item index (manifest datasets) or -1 (shards)
    id      str                          location id
    <label> tensor [] for numeric label columns, the raw value otherwise

A sample whose image cannot be decoded becomes a :class:`FailedSample`;
:func:`collate_skip_failed` drops those from the batch and reports them in
``batch["failed"]`` / ``batch["n_failed"]``, so a loader never crashes on a bad file and
never drops one silently. :func:`make_loader` wires the collate function, a seeded
generator and :func:`worker_init_fn`, which makes runs with workers reproducible.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset

from geoloc.data.images import DEFAULT_MAX_PIXELS, load_image
from geoloc.data.manifest import ID, LAT, LON, PATH, read_manifest, resolve_paths, validate_manifest
from geoloc.data.panorama import group_views
from geoloc.errors import GeolocError, ImageDecodeError

Transform = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class FailedSample:
    """A sample that could not be produced: ``index`` (or -1), ``source`` (file or shard
    key) and ``reason``."""

    index: int
    source: str
    reason: str


# --------------------------------------------------------------------------- transforms


def default_transform(image_size: int = 224) -> Transform:
    """Resize the shorter side to ``image_size`` (bicubic), centre crop, to float [0, 1]."""
    from torchvision import transforms as T

    return T.Compose([T.Resize(image_size, interpolation=T.InterpolationMode.BICUBIC),
                      T.CenterCrop(image_size), T.ToTensor()])


def open_clip_preprocess_cfg(model_name_or_cfg: str | dict, image_size: int | None = None, *,
                             pretrained: str | None = None) -> dict:
    """The preprocessing settings (size, mean, std, interpolation, resize_mode) of an
    open_clip model, from its config (no weights are loaded). ``model_name_or_cfg`` is an
    open_clip model name (``"ViT-B-32"``), a model config dict (with ``vision_cfg``) or a
    preprocess dict (``size``/``mean``/``std``...). ``pretrained`` (a tag such as
    ``"openai"``) merges that checkpoint's published mean/std/interpolation."""
    import open_clip
    from open_clip.transform import PreprocessCfg

    cfg: dict[str, Any] = {**PreprocessCfg().__dict__}
    if isinstance(model_name_or_cfg, str):
        model_cfg = open_clip.get_model_config(model_name_or_cfg)
        if model_cfg is None:
            raise GeolocError(f"unknown open_clip model {model_name_or_cfg!r}")
    else:
        model_cfg = dict(model_name_or_cfg)
    vision = model_cfg.get("vision_cfg")
    if vision is not None:
        cfg["size"] = vision.get("image_size", cfg["size"])
        for key, name in (("image_mean", "mean"), ("image_std", "std"), ("image_interpolation", "interpolation"),
                          ("image_resize_mode", "resize_mode")):
            if vision.get(key) is not None:
                cfg[name] = vision[key]
    else:
        cfg.update({k: v for k, v in model_cfg.items() if k in cfg})
    if pretrained is not None and isinstance(model_name_or_cfg, str):
        pre = open_clip.get_pretrained_cfg(model_name_or_cfg, pretrained) or {}
        for key in ("mean", "std", "interpolation", "resize_mode"):
            if pre.get(key) is not None:
                cfg[key] = pre[key]
    if image_size is not None:
        cfg["size"] = image_size
    return cfg


def open_clip_transform(model_name_or_cfg: str | dict, image_size: int | None = None, *,
                        is_train: bool = False, pretrained: str | None = None,
                        aug_cfg: dict | None = None) -> Transform:
    """open_clip's own image preprocessing for a model (PIL image -> normalised tensor
    [3, S, S]), created from its config without weights; ``image_size`` overrides the
    model's input size. See :func:`open_clip_preprocess_cfg`."""
    import open_clip

    cfg = open_clip_preprocess_cfg(model_name_or_cfg, image_size, pretrained=pretrained)
    return open_clip.image_transform(cfg["size"], is_train=is_train, mean=tuple(cfg["mean"]),
                                     std=tuple(cfg["std"]), resize_mode=cfg["resize_mode"],
                                     interpolation=cfg["interpolation"], fill_color=cfg["fill_color"],
                                     aug_cfg=aug_cfg)


def transform_size(transform: Transform | Sequence[Transform]) -> tuple[int, int] | None:
    """(height, width) in pixels that a preprocessing pipeline (a Compose or a list of steps) resizes
    to: the ``size`` of its first step that has one (open_clip's Resize); None when no step says."""
    steps = transform if isinstance(transform, list | tuple) else getattr(transform, "transforms", [transform])
    for step in steps:
        size = getattr(step, "size", None)
        if size is not None:
            return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[-1]))
    return None


# --------------------------------------------------------------------------- labels


def _label_value(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return torch.tensor(bool(value))
    if isinstance(value, int | np.integer):
        return torch.tensor(int(value), dtype=torch.long)
    if isinstance(value, float | np.floating):
        return torch.tensor(float(value), dtype=torch.float32)
    return value


def _targets(lat: float, lon: float, labels: dict[str, Any]) -> dict[str, Any]:
    out = {"lat": torch.tensor(float(lat), dtype=torch.float32),
           "lon": torch.tensor(float(lon), dtype=torch.float32)}
    out.update({k: _label_value(v) for k, v in labels.items()})
    return out


# --------------------------------------------------------------------------- manifest dataset


class ManifestDataset(Dataset):
    """Images and targets of a manifest (DataFrame or file path).

    ``views=1``: one item per row. ``views=V>1``: one item per location id with exactly
    ``V`` views (ordered by ``view``); locations with another count are listed in
    ``self.rejected``. Rows failing validation (coordinates, duplicates; files are checked
    when loaded) are listed in ``self.report``. ``label_columns`` are returned with each
    sample. ``transform`` maps a PIL RGB image to a tensor [3, H, W] (default
    :func:`default_transform`).
    """

    def __init__(self, manifest: pd.DataFrame | str | os.PathLike, transform: Transform | None = None,
                 views: int = 1, *, root: str | os.PathLike | None = None,
                 label_columns: Sequence[str] = (), max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 image_size: int = 224) -> None:
        if isinstance(manifest, str | os.PathLike):
            manifest = read_manifest(manifest, root=root)
        if views < 1:
            raise GeolocError(f"views must be >= 1, got {views}")
        clean, self.report = validate_manifest(manifest, root, check_files=False)
        missing = [c for c in label_columns if c not in clean.columns]
        if missing:
            raise GeolocError(f"label column(s) {missing} not in the manifest "
                              f"(columns: {', '.join(map(str, clean.columns))})")
        clean = clean.copy()
        clean[PATH] = [str(p) for p in resolve_paths(clean, root)]
        self.views = views
        self.label_columns = list(label_columns)
        self.transform = transform if transform is not None else default_transform(image_size)
        self.max_pixels = max_pixels
        if views == 1:
            self.items = clean.reset_index(drop=True)
            self.items["paths"] = [(p,) for p in self.items[PATH]]
            if ID not in self.items.columns:
                self.items[ID] = self.items.index.astype(str)
            self.rejected = pd.DataFrame(columns=[ID, "reason"])
        else:
            self.items, self.rejected = group_views(clean, n_views=views)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any] | FailedSample:
        row = self.items.iloc[index]
        paths = row["paths"]
        try:
            tensors = [self.transform(load_image(p, max_pixels=self.max_pixels)) for p in paths]
        except (ImageDecodeError, OSError) as exc:
            return FailedSample(int(index), str(paths[0]) if paths else "", str(exc))
        sample = {"images": torch.stack(tensors), "index": int(index), "id": str(row[ID])}
        sample.update(_targets(row[LAT], row[LON], {c: row[c] for c in self.label_columns}))
        return sample


# --------------------------------------------------------------------------- collate / loader


def collate_skip_failed(batch: list[dict | FailedSample]) -> dict[str, Any]:
    """Stack good samples (``images`` -> [B, V, 3, H, W], ``lat``/``lon`` -> [B], other
    tensors stacked, the rest as lists) and report the failed ones in ``failed`` (list of
    :class:`FailedSample`) and ``n_failed``. An all-failed batch has ``images`` of shape
    [0] and ``n_good`` 0."""
    good = [s for s in batch if not isinstance(s, FailedSample)]
    failed = [s for s in batch if isinstance(s, FailedSample)]
    out: dict[str, Any] = {"failed": failed, "n_failed": len(failed), "n_good": len(good)}
    if not good:
        out.update(images=torch.empty(0), lat=torch.empty(0), lon=torch.empty(0), index=[], id=[])
        return out
    for key in good[0]:
        values = [s[key] for s in good]
        if all(isinstance(v, torch.Tensor) for v in values):
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out


def worker_init_fn(worker_id: int) -> None:
    """Seed Python's and NumPy's RNGs of a DataLoader worker from torch's per-worker seed
    (which the loader derives from its generator), so augmentations using any of the
    three RNGs are reproducible."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(dataset: Dataset | IterableDataset, batch_size: int, *, shuffle: bool = False,
                num_workers: int = 0, seed: int = 0, drop_last: bool = False,
                pin_memory: bool | None = None, persistent_workers: bool = False,
                prefetch_factor: int | None = None) -> DataLoader:
    """DataLoader with :func:`collate_skip_failed`, :func:`worker_init_fn` and a generator
    seeded with ``seed``: the same seed gives the same batches for any ``num_workers``
    (shuffle order) and the same augmentations for the same ``num_workers``. ``pin_memory``
    defaults to CUDA availability."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    iterable = isinstance(dataset, IterableDataset)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle and not iterable, num_workers=num_workers,
        collate_fn=collate_skip_failed, worker_init_fn=worker_init_fn, generator=generator,
        drop_last=drop_last, pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
    )


# --------------------------------------------------------------------------- shard dataset


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardDataset(IterableDataset):
    """Samples from WebDataset shards written by :func:`geoloc.data.shards.write_shards`.

    Shards are split by node (DDP rank) and by DataLoader worker; ``resampled=True``
    draws shards with replacement forever (the usual multi-GPU setting; bound the epoch
    with ``itertools.islice`` or the training loop's step count). ``shuffle`` is the sample
    shuffle buffer size (0 = file order; shards are then also read in order). The shuffle
    is seeded from (``seed``, epoch, rank, worker), so runs repeat; call :meth:`set_epoch`
    between epochs. ``views`` images are taken per sample (the first ``views`` stored);
    samples with fewer views or undecodable images become :class:`FailedSample`.
    """

    def __init__(self, urls, transform: Transform | None = None, *, views: int = 1,
                 resampled: bool = False, shuffle: int = 0, seed: int = 0,
                 label_columns: Sequence[str] = (), max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 image_size: int = 224) -> None:
        from geoloc.data.shards import expand_shards

        self.urls = expand_shards(urls)
        missing = [u for u in self.urls if "://" not in u and not Path(u).is_file()]
        if missing:
            raise GeolocError(f"{len(missing)} shard(s) not found, e.g. {missing[0]}")
        self.transform = transform if transform is not None else default_transform(image_size)
        self.views, self.resampled, self.shuffle, self.seed = views, resampled, shuffle, seed
        self.label_columns = list(label_columns)
        self.max_pixels = max_pixels
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _seed(self) -> int:
        info = torch.utils.data.get_worker_info()
        rank, _ = _rank_and_world()
        key = f"{self.seed}:{self.epoch}:{rank}:{info.id if info else 0}".encode()
        return zlib.crc32(key)

    def _convert(self, raw: dict) -> dict | FailedSample:
        from geoloc.data.shards import sample_from_members

        key = raw.get("__key__", "")
        source = f"{raw.get('__url__', '')}:{key}"
        members = {k: v for k, v in raw.items() if not k.startswith("__")}
        try:
            sample = sample_from_members(key, members)
            images = sample["images"]
            if len(images) < self.views:
                return FailedSample(-1, source, f"{len(images)} views, need {self.views}")
            tensors = [self.transform(load_image(b, max_pixels=self.max_pixels)) for b in images[: self.views]]
            meta = sample["meta"]
            labels = {c: meta.get(c) for c in self.label_columns}
            out = {"images": torch.stack(tensors), "index": -1, "id": sample["id"]}
            out.update(_targets(meta[LAT], meta[LON], labels))
            return out
        except (ImageDecodeError, OSError, KeyError, ValueError, TypeError) as exc:
            return FailedSample(-1, source, f"{type(exc).__name__}: {exc}")

    def __iter__(self) -> Iterator[dict | FailedSample]:
        import webdataset as wds

        seed = self._seed()
        pipeline = wds.WebDataset(
            self.urls, resampled=self.resampled,
            shardshuffle=100 if self.shuffle and not self.resampled else False,
            nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker,
            empty_check=False, seed=self.seed + self.epoch, handler=wds.warn_and_continue,
        )
        if self.shuffle:
            pipeline = pipeline.shuffle(self.shuffle, seed=seed)
        for raw in pipeline:
            yield self._convert(raw)
