"""SynthWorld generation: one scene (Python API) or a whole dataset on disk.

Dataset layout (``out_dir``)::

    manifest.parquet, manifest.csv      one row per image (see :data:`MANIFEST_COLUMNS`)
    images/<chunk>/<id>_v<view>.png     chunk = location index // 1000
    shards/shard-000000.tar ...         with ``shards=True`` instead of images/ (WebDataset)

Generation is deterministic: the same ``(n, seed, size, views, cues)`` writes byte-identical
images and manifests. It is resumable: a scene whose image files all exist is not rendered
again (files are written to a temporary name and renamed, so a killed run leaves no partial
image behind). With shards, an existing complete shard set (``shards/_complete.json`` with
the same settings) is kept and otherwise rewritten.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from geoloc.errors import GeolocError
from geoloc.synth.locations import location_attributes, sample_locations
from geoloc.synth.render import HEADINGS, MAX_SIZE, MIN_SIZE, render_view
from geoloc.synth.scene import build_scene, normalise_cues

CHUNK_DIR = 1000
META_COLUMNS = [
    "adm0_a3", "iso_a2", "country", "adm1_code", "admin1", "town", "town_id", "district", "district_id",
    "continent",
    "style_region", "drives_left", "script", "climate", "month", "season", "hour", "sun_elevation",
    "sun_azimuth", "road_bearing", "split",
]
MANIFEST_COLUMNS = ["id", "view", "heading", "path", "lat", "lon", *META_COLUMNS]


def _headings(views: int | Sequence[float]) -> tuple[float, ...]:
    if isinstance(views, int | np.integer):
        if not 1 <= int(views) <= len(HEADINGS):
            raise GeolocError(f"views must be 1..{len(HEADINGS)}, got {views}")
        return HEADINGS[: int(views)]
    return tuple(float(h) % 360.0 for h in views)


def _check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE or size % 2:
        raise GeolocError(f"size must be an even number of pixels in [{MIN_SIZE}, {MAX_SIZE}], got {size}")


def generate_scene(
    location_or_attrs: Mapping | tuple[float, float],
    size: int = 128,
    views: int | Sequence[float] = 4,
    cues: Iterable[str] | str | None = None,
    seed: int | None = None,
) -> list[Image.Image]:
    """Render one location as ``views`` street-level images (PIL RGB, ``size`` x ``size``).

    ``location_or_attrs`` is a row of :func:`~geoloc.synth.locations.sample_locations` (a
    mapping) or a ``(lat, lon)`` pair in degrees (attributes are then looked up, with month,
    hour and road drawn from ``seed``). ``views`` is a count (headings 0, 90, 180, 270 in that
    order) or a list of compass headings in degrees. ``cues`` selects cue families (default
    all; see :data:`geoloc.synth.scene.CUE_FAMILIES`). ``seed`` overrides the scene seed.
    """
    _check_size(size)
    if isinstance(location_or_attrs, Mapping):
        attrs = dict(location_or_attrs)
    else:
        lat, lon = location_or_attrs
        attrs = location_attributes(float(lat), float(lon), seed=seed or 0).to_dict()
    scene = build_scene(attrs, cues, seed)
    return [Image.fromarray(render_view(scene, h, size)) for h in _headings(views)]


def image_relpath(loc_index: int, loc_id: str, view: int, ext: str = "png") -> str:
    """Path of a view image relative to the dataset folder."""
    return f"images/{loc_index // CHUNK_DIR:04d}/{loc_id}_v{view}.{ext}"


def build_manifest(locs: pd.DataFrame, headings: Sequence[float], ext: str = "png",
                   start: int = 0) -> pd.DataFrame:
    """One row per (location, view) with ``MANIFEST_COLUMNS``; ``start`` = index of locs[0]."""
    n, v = len(locs), len(headings)
    rep = locs.loc[locs.index.repeat(v)].reset_index(drop=True)
    view = np.tile(np.arange(v), n)
    idx = np.repeat(np.arange(start, start + n), v)
    rep.insert(1, "view", view)
    rep.insert(2, "heading", np.tile(np.asarray(headings, float), n))
    rep.insert(3, "path", [image_relpath(int(i), lid, int(k), ext)
                           for i, lid, k in zip(idx, rep["id"], view, strict=True)])
    return rep[MANIFEST_COLUMNS]


def _encode(arr: np.ndarray, ext: str) -> bytes:
    buf = io.BytesIO()
    if ext == "png":
        Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    else:
        Image.fromarray(arr).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _render_task(task: tuple) -> tuple[int, list[bytes] | None]:
    """Worker: render one scene; write its files (images mode) or return encoded views."""
    index, attrs, size, headings, cues, ext, out_dir, to_disk = task
    scene = build_scene(attrs, cues)
    blobs = [_encode(render_view(scene, h, size), ext) for h in headings]
    if not to_disk:
        return index, blobs
    for k, blob in enumerate(blobs):
        path = Path(out_dir) / image_relpath(index, attrs["id"], k, ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    return index, None


def _pool_map(tasks: list[tuple], workers: int, desc: str, progress: bool) -> Iterator[tuple[int, list | None]]:
    bar = tqdm(total=len(tasks), desc=desc, unit="scene", disable=not progress)
    try:
        if workers <= 1 or len(tasks) < 4:
            for t in tasks:
                yield _render_task(t)
                bar.update(1)
            return
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_render_task, tasks, chunksize=8):
                yield res
                bar.update(1)
    finally:
        bar.close()


def default_workers() -> int:
    """Worker processes for generation: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def generate_dataset(
    n: int,
    out_dir: str | os.PathLike,
    *,
    size: int = 128,
    views: int | Sequence[float] = 4,
    seed: int = 0,
    cues: Iterable[str] | str | None = None,
    shards: bool = False,
    image_format: str = "png",
    workers: int | None = None,
    maxcount: int = 1000,
    progress: bool = True,
    locations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Generate ``n`` locations x ``views`` images into ``out_dir`` (see module docstring).

    Returns the manifest (also written as ``manifest.parquet`` and ``manifest.csv``). Pass
    ``locations`` (rows of :func:`sample_locations`) to render chosen places instead.
    """
    _check_size(size)
    if n < 0:
        raise GeolocError(f"n must be >= 0, got {n}")
    ext = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}.get(image_format.lower())
    if ext is None:
        raise GeolocError(f"image format must be png or jpg, got {image_format!r}")
    heads = _headings(views)
    cue_set = normalise_cues(cues)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GeolocError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    locs = sample_locations(n, seed) if locations is None else locations.reset_index(drop=True)
    manifest = build_manifest(locs, heads, ext)
    workers = default_workers() if workers is None else max(1, int(workers))
    rows = locs.to_dict("records")
    if shards:
        _write_shard_set(rows, manifest, out, size, heads, cue_set, ext, workers, maxcount, progress,
                         {"n": len(rows), "seed": seed, "size": size, "views": list(heads),
                          "cues": sorted(cue_set), "format": ext})
    else:
        todo = [
            (i, r, size, heads, cue_set, ext, str(out), True)
            for i, r in enumerate(rows)
            if not all((out / image_relpath(i, r["id"], k, ext)).exists() for k in range(len(heads)))
        ]
        for _ in _pool_map(todo, workers, "synth", progress):
            pass
    manifest.to_parquet(out / "manifest.parquet", index=False)
    manifest.to_csv(out / "manifest.csv", index=False)
    return manifest


def _write_shard_set(rows, manifest, out: Path, size, heads, cue_set, ext, workers, maxcount, progress,
                     settings: dict) -> None:
    from geoloc.data.shards import write_shards

    shard_dir = out / "shards"
    marker = shard_dir / "_complete.json"
    if marker.exists() and json.loads(marker.read_text()) == settings:
        return
    if marker.exists():
        marker.unlink()
    for old in shard_dir.glob("*.tar") if shard_dir.exists() else []:
        old.unlink()
    tasks = [(i, r, size, heads, cue_set, ext, str(out), False) for i, r in enumerate(rows)]
    meta_cols = [c for c in ["lat", "lon", *META_COLUMNS] if c in manifest.columns]

    def records() -> Iterator[dict]:
        for i, blobs in _pool_map(tasks, workers, "synth", progress):
            r = rows[i]
            meta = {c: r[c] for c in meta_cols if c in r}
            meta["headings"] = list(heads)
            yield {"id": r["id"], "images": blobs, "meta": meta}

    write_shards(records(), shard_dir, maxcount=maxcount, progress=False)
    marker.write_text(json.dumps(settings))
