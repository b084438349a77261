"""Training locations from a manifest: validation, view grouping, label vocabularies, image tensors.

A *location* is one training example: ``views`` images of one place (PIGEON's four headings)
or one image. :func:`load_locations` validates the manifest (bad rows are counted, never
dropped silently), groups rows by ``id`` and keeps ``views`` images per location.
:class:`LocationImages` is the torch dataset over them, optionally holding every image in
memory as uint8 (decoded once; a CPU run then spends its time in the model, not in PNG decoding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from geoloc.errors import GeolocError, ImageDecodeError, InputFileError

LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "country": ("adm0_a3", "country_code", "iso_a2", "country"),
    "admin1": ("adm1_code", "admin1"),
    "climate": ("climate",),
    "month": ("month",),
}
"""Manifest columns an auxiliary task reads its label from (first present wins)."""


@dataclass
class Locations:
    """Grouped training locations.

    Attributes:
        frame: one row per location (``id``, ``lat``, ``lon`` degrees, ``paths`` tuple of
            exactly ``views`` resolved image paths, plus the first view's metadata).
        views: images per location.
        invalid_rows: manifest rows that failed validation (bad coordinates, empty paths,
            missing files, duplicates).
        rejected: locations dropped for a wrong view count / inconsistent coordinates.
        problems: ``(what, reason)`` strings for the report (first few of each kind).
    """

    frame: pd.DataFrame
    views: int
    invalid_rows: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def lat(self) -> np.ndarray:
        return self.frame["lat"].to_numpy(np.float64)

    @property
    def lon(self) -> np.ndarray:
        return self.frame["lon"].to_numpy(np.float64)

    def summary(self) -> str:
        return (f"{len(self)} locations x {self.views} view(s); skipped {self.invalid_rows} invalid manifest row(s) "
                f"and {self.rejected} location(s) with the wrong view count")

    def subset(self, mask: np.ndarray) -> Locations:
        return Locations(self.frame[np.asarray(mask, bool)].reset_index(drop=True), self.views, self.invalid_rows,
                         self.rejected, list(self.problems))


def load_locations(manifest: str | Path | pd.DataFrame, *, root: str | Path | None = None, views: int = 1,
                   check_files: bool = True, what: str = "manifest") -> Locations:
    """Validate ``manifest`` and group it into locations of exactly ``views`` images.

    ``views=1`` on a multi-view manifest keeps the first view (lowest ``view``) of every
    location. Raises :class:`GeolocError` when no location is left (naming the reasons).
    """
    from geoloc.data.manifest import read_manifest, resolve_paths, validate_manifest
    from geoloc.data.panorama import group_views

    if views < 1:
        raise GeolocError(f"views must be >= 1, got {views}")
    name = str(manifest) if isinstance(manifest, str | Path) else what
    df = read_manifest(manifest, root=root) if isinstance(manifest, str | Path) else manifest
    if root is None:
        root = df.attrs.get("root")
    if len(df) == 0:
        raise InputFileError(f"{name}: the manifest has no rows")
    clean, report = validate_manifest(df, root, check_files=check_files)
    problems = [str(p) for p in report.problems[:5]]
    if len(clean) == 0:
        raise InputFileError(f"{name}: no valid rows ({report.summary()})")
    clean = clean.copy()
    clean["path"] = [str(p) for p in resolve_paths(clean, root)]
    frame, rejected = group_views(clean, n_views=None if views == 1 else views)
    if views == 1:
        frame = frame.copy()
        frame["paths"] = [tuple(p[:1]) for p in frame["paths"]]
    problems += [f"location {r.id}: {r.reason}" for r in rejected.head(5).itertuples()]
    if len(frame) == 0:
        raise InputFileError(f"{name}: no location has {views} valid view(s) "
                             f"({report.n_bad} invalid row(s), {len(rejected)} rejected location(s))")
    return Locations(frame.reset_index(drop=True), views, int(report.n_bad), len(rejected), problems)


def attach_shards(locs: Locations, shards: Any) -> Locations:
    """``locs`` with every location's image paths replaced by references into WebDataset ``shards``
    (written by ``geoloc data shard``; matched by location id, views in stored order): the images are
    then read from the shards (:func:`geoloc.data.shards.read_member`: one positioned read per image,
    no file per image) by every stage that reads images. Locations missing from the shards or with
    fewer than ``locs.views`` stored views are dropped and counted in ``rejected``."""
    from geoloc.data.shards import index_shards

    index = index_shards(shards)
    frame = locs.frame.copy()
    refs = [index.get(str(i)) for i in frame["id"]]
    good = np.array([r is not None and len(r) >= locs.views for r in refs], dtype=bool)
    problems = list(locs.problems)
    missing = [str(i) for i, g in zip(frame["id"], good, strict=True) if not g]
    if missing:
        problems.append(f"{len(missing)} location(s) not in the shards with {locs.views} view(s), e.g. {missing[0]}")
    frame["paths"] = [tuple(r[:locs.views]) if g else () for r, g in zip(refs, good, strict=True)]
    frame = frame[good].reset_index(drop=True)
    if len(frame) == 0:
        raise InputFileError(f"none of the {len(locs)} location(s) is in the shards {shards}")
    return Locations(frame, locs.views, locs.invalid_rows, locs.rejected + len(missing), problems)


def label_column(frame: pd.DataFrame, task: str) -> str | None:
    """The manifest column holding ``task``'s labels (None when the manifest has none)."""
    for col in LABEL_COLUMNS.get(task, (task,)):
        if col in frame.columns and frame[col].notna().any():
            return col
    return None


def _label_strings(values: pd.Series) -> np.ndarray:
    def one(v: Any) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return np.array([one(v) for v in values], dtype=object)


def build_vocab(frame: pd.DataFrame, task: str) -> list[str] | None:
    """Sorted distinct non-empty labels of ``task`` (None when the column is missing)."""
    col = label_column(frame, task)
    if col is None:
        return None
    return sorted({s for s in _label_strings(frame[col]) if s})


def encode_labels(frame: pd.DataFrame, task: str, vocab: Sequence[str]) -> np.ndarray:
    """Class index [N] int64 of each location in ``vocab``; -1 for unknown / missing labels."""
    col = label_column(frame, task)
    if col is None:
        return np.full(len(frame), -1, dtype=np.int64)
    pos = {s: i for i, s in enumerate(vocab)}
    return np.array([pos.get(s, -1) for s in _label_strings(frame[col])], dtype=np.int64)


def split_transform(transform: Any) -> tuple[list[Any], Any]:
    """Split an open_clip transform into (PIL steps before ``ToTensor``, Normalize or None)."""
    from torchvision import transforms as T

    steps = list(getattr(transform, "transforms", [transform]))
    pil_steps, norm = [], None
    seen_tensor = False
    for s in steps:
        if isinstance(s, T.ToTensor):
            seen_tensor = True
        elif isinstance(s, T.Normalize):
            norm = s
        elif not seen_tensor:
            pil_steps.append(s)
        else:
            raise GeolocError(f"unsupported step after ToTensor in the preprocessing: {s!r}")
    return pil_steps, norm


class LocationImages(torch.utils.data.Dataset):
    """Images of :class:`Locations` as model input.

    ``dataset[i]`` -> ``{"images": [V, 3, S, S] float32 (normalised), "lat", "lon" (float32
    degrees), "index" (int64), "ok" (bool: False when an image could not be decoded; the
    pixels are then zeros and the losses skip the row), <task>: int64 label}``.

    Args:
        locations: grouped locations.
        transform: open_clip preprocessing (PIL -> normalised tensor), e.g.
            :func:`geoloc.data.open_clip_transform` of the model.
        labels: ``{task: [N] int64}`` label arrays returned with each sample.
        cache: decode every image once into a uint8 tensor [N, V, 3, S, S] (progress bar);
            locations with an undecodable image are marked not ok and counted.
    """

    def __init__(self, locations: Locations, transform: Any, *, labels: dict[str, np.ndarray] | None = None,
                 cache: bool = True, progress: bool = True) -> None:
        from geoloc.data.images import load_image

        self.locations = locations
        self.paths: list[tuple[str, ...]] = [tuple(p) for p in locations.frame["paths"]]
        self.lat = torch.tensor(locations.lat, dtype=torch.float32)
        self.lon = torch.tensor(locations.lon, dtype=torch.float32)
        self.labels = {k: torch.as_tensor(np.asarray(v), dtype=torch.long) for k, v in (labels or {}).items()}
        self.pil_steps, norm = split_transform(transform)
        self.mean = torch.tensor(norm.mean if norm is not None else [0.0, 0.0, 0.0]).view(3, 1, 1)
        self.std = torch.tensor(norm.std if norm is not None else [1.0, 1.0, 1.0]).view(3, 1, 1)
        self._load_image = load_image
        self.failed: list[tuple[str, str]] = []
        self.ok = torch.ones(len(self.paths), dtype=torch.bool)
        self.cache: torch.Tensor | None = None
        if cache:
            self._fill_cache(progress)

    def __len__(self) -> int:
        return len(self.paths)

    def _uint8(self, path: str) -> torch.Tensor:
        from geoloc.data.images import draft_size
        from geoloc.data.shards import is_member_ref, read_member

        src = read_member(path) if is_member_ref(path) else path  # a file, or an image inside a shard
        img = self._load_image(src, draft=draft_size(self.image_hw))  # JPEGs decoded near the input size
        for step in self.pil_steps:
            img = step(img)
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1)

    def _views_uint8(self, i: int) -> torch.Tensor | None:
        try:
            return torch.stack([self._uint8(p) for p in self.paths[i]])
        except (ImageDecodeError, OSError) as exc:
            self.failed.append((self.paths[i][0], str(exc)))
            self.ok[i] = False
            return None

    def _fill_cache(self, progress: bool) -> None:
        first = None
        for i in range(len(self)):
            first = self._views_uint8(i)
            if first is not None:
                break
        if first is None:
            raise InputFileError(f"no image of the {len(self)} location(s) could be decoded; first: "
                                 f"{self.failed[0][0]}: {self.failed[0][1]}")
        self.cache = torch.zeros((len(self), *first.shape), dtype=torch.uint8)
        start = int(np.flatnonzero(self.ok.numpy())[0])
        self.cache[start] = first
        for i in tqdm(range(start + 1, len(self)), desc="decode images", unit="loc", disable=not progress,
                      total=len(self) - start - 1):
            v = self._views_uint8(i)
            if v is not None:
                self.cache[i] = v

    def pixels(self, i: int) -> tuple[torch.Tensor, bool]:
        """Normalised pixels [V, 3, S, S] and whether the location decoded."""
        if self.cache is not None:
            raw, ok = self.cache[i], bool(self.ok[i])
        else:
            v = self._views_uint8(i) if bool(self.ok[i]) else None
            ok = v is not None
            raw = v if v is not None else torch.zeros((len(self.paths[i]), 3, *self.image_hw), dtype=torch.uint8)
        return (raw.float() / 255.0 - self.mean) / self.std, ok

    @property
    def image_hw(self) -> tuple[int, int]:
        from geoloc.data.datasets import transform_size

        return transform_size(self.pil_steps) or (224, 224)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        images, ok = self.pixels(int(i))
        out = {"images": images, "lat": self.lat[i], "lon": self.lon[i], "index": torch.tensor(int(i)),
               "ok": torch.tensor(ok)}
        for k, v in self.labels.items():
            out[k] = v[i]
        return out


def collate_locations(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack the tensors of :class:`LocationImages` samples."""
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


__all__ = ["LABEL_COLUMNS", "LocationImages", "Locations", "attach_shards", "build_vocab", "collate_locations",
           "encode_labels", "label_column", "load_locations", "split_transform"]
