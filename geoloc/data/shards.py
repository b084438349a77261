"""WebDataset shards: tar files of samples for data beyond one disk and many GPUs.

Layout of one sample (one location) inside ``<prefix>-000000.tar``::

    <key>.view0.jpg  <key>.view1.jpg ...  <key>.json

``<key>`` is the location id with every character outside ``[A-Za-z0-9_-]`` replaced by
``_`` (WebDataset splits names at the first dot); the original id is in the JSON, which
holds the record's ``meta`` plus ``id`` and ``n_views``. Images given as encoded bytes are
stored as they are (``.jpg``/``.png``/``.webp`` by content; other formats are re-encoded
as JPEG); PIL images are encoded as JPEG (quality 95).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from geoloc.data.images import encode_image, image_format, load_image
from geoloc.data.manifest import HEADING, ID, LAT, LON, PATH, VIEW, ValidationReport, resolve_paths
from geoloc.errors import GeolocError, ImageDecodeError, InputFileError

_EXT_BY_FORMAT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_VIEW_RE = re.compile(r"^view(\d+)\.(jpg|jpeg|png|webp)$")


def shard_key(location_id: str) -> str:
    """WebDataset-safe key for a location id (no dots, slashes or spaces)."""
    key = re.sub(r"[^A-Za-z0-9_-]", "_", str(location_id))
    return key or "_"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _clean_meta(meta: dict) -> dict:
    out = {}
    for k, v in meta.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[str(k)] = v
    return out


def _image_bytes(img: Image.Image | bytes) -> tuple[bytes, str]:
    if isinstance(img, Image.Image):
        return encode_image(img, "JPEG"), "jpg"
    if isinstance(img, bytes | bytearray | memoryview):
        data = bytes(img)
        ext = _EXT_BY_FORMAT.get(image_format(data) or "")
        if ext is None:
            return encode_image(load_image(data), "JPEG"), "jpg"
        return data, ext
    raise GeolocError(f"shard images must be PIL images or bytes, got {type(img).__name__}")


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    tar.addfile(info, io.BytesIO(data))


def write_shards(records: Iterable[dict], out_dir: str | os.PathLike, *, maxcount: int = 1000,
                 prefix: str = "shard", progress: bool = False) -> list[Path]:
    """Write records ``{"id": str, "images": [PIL.Image | bytes, ...], "meta": dict}`` into
    tar shards of at most ``maxcount`` samples each; returns the shard paths in order."""
    if maxcount < 1:
        raise GeolocError(f"maxcount must be >= 1, got {maxcount}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    tar: tarfile.TarFile | None = None
    used: set[str] = set()
    count = 0
    try:
        for rec in tqdm(records, desc="shards", unit="sample", disable=not progress):
            if tar is None or count >= maxcount:
                if tar is not None:
                    tar.close()
                paths.append(out / f"{prefix}-{len(paths):06d}.tar")
                tar = tarfile.open(paths[-1], "w")  # noqa: SIM115 - closed in finally
                count = 0
            loc_id = str(rec["id"])
            key = shard_key(loc_id)
            base, n = key, 1
            while key in used:
                key, n = f"{base}_{n}", n + 1
            used.add(key)
            images = list(rec.get("images", []))
            for i, img in enumerate(images):
                data, ext = _image_bytes(img)
                _add_member(tar, f"{key}.view{i}.{ext}", data)
            meta = {**_clean_meta(dict(rec.get("meta", {}))), "id": loc_id, "n_views": len(images)}
            _add_member(tar, f"{key}.json", json.dumps(meta, default=_json_default).encode())
            count += 1
    finally:
        if tar is not None:
            tar.close()
    return paths


def expand_shards(urls: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Shard list from a folder (its ``*.tar``), a brace pattern
    (``shard-{000000..000009}.tar``), a single path or a list of paths."""
    if isinstance(urls, str | os.PathLike):
        p = Path(urls)
        if p.is_dir():
            found = sorted(str(q) for q in p.glob("*.tar"))
            if not found:
                raise InputFileError(f"{p}: no .tar shards in this folder")
            return found
        import braceexpand

        return list(braceexpand.braceexpand(str(urls)))
    return [str(u) for u in urls]


def sample_from_members(key: str, members: dict[str, bytes]) -> dict:
    """Assemble ``{"id", "key", "images": [bytes, ...] (by view index), "meta"}`` from the
    tar members of one sample (names without the key prefix)."""
    views = sorted((int(m.group(1)), data) for name, data in members.items()
                   if (m := _VIEW_RE.match(name)))
    meta = json.loads(members["json"].decode()) if "json" in members else {}
    return {"id": str(meta.get("id", key)), "key": key, "images": [d for _, d in views], "meta": meta}


def read_shards(urls: str | os.PathLike | Iterable[str | os.PathLike], *,
                decode: bool = True) -> Iterator[dict]:
    """Iterate the samples of shards in order (a plain reader without workers or
    shuffling; see :class:`geoloc.data.datasets.ShardDataset` for training). Each sample
    is ``{"id", "key", "images", "meta"}`` with images as RGB PIL images (``decode``) or
    the stored bytes."""
    for url in expand_shards(urls):
        try:
            tar = tarfile.open(url, "r")  # noqa: SIM115 - used as a context below
        except (OSError, tarfile.TarError) as exc:
            raise InputFileError(f"{url}: cannot open shard ({exc})") from exc
        with tar:
            current, members = None, {}
            for info in tar:
                if not info.isfile():
                    continue
                name = os.path.basename(info.name)
                key, _, ext = name.partition(".")
                if key != current and current is not None:
                    yield _finish(current, members, decode, url)
                    members = {}
                current = key
                members[ext] = tar.extractfile(info).read()
            if current is not None:
                yield _finish(current, members, decode, url)


def _finish(key: str, members: dict[str, bytes], decode: bool, url: str) -> dict:
    sample = sample_from_members(key, members)
    if decode:
        try:
            sample["images"] = [load_image(b) for b in sample["images"]]
        except ImageDecodeError as exc:
            raise ImageDecodeError(f"{url}: sample {key}: {exc}") from exc
    return sample


MEMBER_PREFIX = "tar-member:"
"""Prefix of an image reference into a shard: ``tar-member:<offset>:<size>:<shard path>`` (the bytes of
one tar member), usable wherever a location's image path is (:func:`read_member`)."""


def member_ref(url: str, offset: int, size: int) -> str:
    """The reference of the ``size`` bytes at ``offset`` of shard ``url`` (see :data:`MEMBER_PREFIX`)."""
    return f"{MEMBER_PREFIX}{int(offset)}:{int(size)}:{url}"


def is_member_ref(path: str) -> bool:
    return isinstance(path, str) and path.startswith(MEMBER_PREFIX)


_FDS: dict[tuple[int, str], int] = {}


def read_member(ref: str) -> bytes:
    """The bytes a :func:`member_ref` points to: one positioned read (``os.pread``) of an open shard.
    File descriptors are cached per process (DataLoader workers open their own after the fork), so
    a training step reads its images with no open() or seek per image."""
    offset, size, url = ref[len(MEMBER_PREFIX):].split(":", 2)
    key = (os.getpid(), url)
    fd = _FDS.get(key)
    if fd is None:
        try:
            fd = _FDS[key] = os.open(url, os.O_RDONLY)
        except OSError as exc:
            raise ImageDecodeError(f"{url}: cannot open shard ({exc})") from exc
    data = os.pread(fd, int(size), int(offset))
    if len(data) != int(size):
        raise ImageDecodeError(f"{url}: member at byte {offset} is cut short ({len(data)} of {size} bytes)")
    return data


def index_shards(urls: str | os.PathLike | Iterable[str | os.PathLike]) -> dict[str, list[str]]:
    """``{location id: [member ref of view 0, view 1, ...]}`` over every sample of the shards, read
    from the tar headers and each sample's small JSON (for its id) without reading any image: one
    pass over the headers, after which training reads images by reference (:func:`read_member`),
    in any order. Raises :class:`InputFileError` for a shard that cannot be read."""
    index: dict[str, list[str]] = {}
    for url in expand_shards(urls):
        try:
            tar = tarfile.open(url, "r")  # noqa: SIM115 - used as a context below
        except (OSError, tarfile.TarError) as exc:
            raise InputFileError(f"{url}: cannot open shard ({exc})") from exc
        samples: dict[str, dict[str, tarfile.TarInfo]] = {}
        with tar:
            for info in tar:
                if info.isfile():
                    key, _, ext = os.path.basename(info.name).partition(".")
                    samples.setdefault(key, {})[ext] = info
            for key, members in samples.items():
                meta = json.loads(tar.extractfile(members["json"]).read().decode()) if "json" in members else {}
                views = sorted((int(m.group(1)), info) for ext, info in members.items()
                               if (m := _VIEW_RE.match(ext)))
                index[str(meta.get("id", key))] = [member_ref(url, info.offset_data, info.size) for _, info in views]
    return index


def manifest_to_shards(manifest: pd.DataFrame, out_dir: str | os.PathLike, *, root=None,
                       maxcount: int = 1000, prefix: str = "shard", max_side: int | None = None,
                       progress: bool = True) -> tuple[list[Path], ValidationReport]:
    """Shard a validated manifest: one sample per location (rows grouped by ``id``, views
    ordered by ``view``). Files in JPEG/PNG/WebP are stored byte for byte, others decoded
    and re-encoded as JPEG; with ``max_side``, images with a longer side are shrunk to it
    (EXIF orientation applied, bicubic) and stored as JPEG q95. Locations with an
    unreadable image are skipped and listed in the returned report (row = first manifest
    row of the location, detail = the file)."""
    from geoloc.data.manifest import RowProblem
    from geoloc.data.panorama import group_views

    df = manifest.reset_index(drop=True).copy()
    df["_row"] = np.arange(len(df))
    df[PATH] = [str(p) for p in resolve_paths(df, root)]
    locations, rejected = group_views(df)
    problems: list[RowProblem] = []
    skip_meta = {"_row", "paths", "headings", "n_views", PATH, VIEW, HEADING}

    def records() -> Iterator[dict]:
        for loc in locations.to_dict("records"):
            images = []
            try:
                for p in loc["paths"]:
                    data = Path(p).read_bytes()
                    try:
                        decoded = load_image(data)  # verify that it decodes
                    except ImageDecodeError as exc:
                        raise ImageDecodeError(f"{p}: {str(exc).split(': ', 1)[-1]}") from exc
                    if max_side is not None and max(decoded.size) > max_side:
                        decoded.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
                        data = encode_image(decoded, "JPEG")
                    elif image_format(data) not in _EXT_BY_FORMAT:
                        data = encode_image(decoded, "JPEG")
                    images.append(data)
            except (OSError, ImageDecodeError) as exc:
                problems.append(RowProblem(int(loc["_row"]), "unreadable image", str(exc)))
                continue
            meta = {k: v for k, v in loc.items() if k not in skip_meta}
            meta["headings"] = [h if math.isfinite(h) else None for h in loc["headings"]]
            meta[LAT], meta[LON] = float(loc[LAT]), float(loc[LON])
            yield {"id": str(loc[ID]), "images": images, "meta": meta}

    paths = write_shards(records(), out_dir, maxcount=maxcount, prefix=prefix, progress=progress)
    first_row = df.groupby(df[ID].astype(str) if ID in df.columns else df["_row"].astype(str))["_row"].min()
    for r in rejected.itertuples(index=False):
        problems.append(RowProblem(int(first_row.get(str(r.id), -1)), "rejected location", r.reason))
    n_loc = len(locations) + len(rejected)
    report = ValidationReport(n_rows=n_loc, n_valid=n_loc - len(problems), problems=problems,
                              source=f"shards from {df.attrs.get('source', 'manifest')} (locations)")
    return paths, report
