"""Arena maps: a list of locations, each with four JPEG views at headings 0/90/180/270.

Two sources:

* :func:`synthworld_map` renders SynthWorld scenes (``geoloc.synth``) for ``n`` seeded locations
  into a cache folder (JPEG, ``size`` x ``size`` px) once, and reuses them afterwards.
* :func:`manifest_map` reads any manifest (``geoloc.data.read_manifest``): rows sharing an ``id``
  with four views are four-view locations; a location with a single image is an
  equirectangular panorama, cut into four 90-degree views with ``geoloc.data.split_panorama``.

Views are held as JPEG bytes in memory (a 256 px view is about 15 kB). Coordinates are degrees.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from geoloc.errors import GeolocError, InputFileError

HEADINGS: tuple[int, ...] = (0, 90, 180, 270)
"""Compass headings (degrees clockwise from north) every arena location has a view for."""

JPEG_QUALITY = 88


@dataclass(frozen=True)
class ArenaLocation:
    """One playable place: ``lat``/``lon`` in degrees and one JPEG per heading in :data:`HEADINGS`."""

    lat: float
    lon: float
    views: tuple[bytes, ...]
    source_id: str = ""

    def view(self, heading: int) -> bytes:
        """JPEG bytes of the view at ``heading`` (one of :data:`HEADINGS`)."""
        return self.views[HEADINGS.index(heading)]


@dataclass(frozen=True)
class ArenaMap:
    """A named set of locations. ``skipped`` counts locations that could not be loaded (with why)."""

    name: str
    locations: tuple[ArenaLocation, ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.locations)


def to_jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an image as baseline RGB JPEG bytes."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def default_cache_dir() -> Path:
    """``$GEOLOC_ARENA_CACHE``, else ``arena/`` in the project's cache folder
    (:func:`geoloc.default_model.cache_dir`, ``~/.cache/geoloc/arena`` by default)."""
    from geoloc.default_model import cache_dir

    env = os.environ.get("GEOLOC_ARENA_CACHE")
    return Path(env) if env else cache_dir() / "arena"


def synthworld_map(n: int = 50, *, seed: int = 2026, size: int = 256, cache_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> ArenaMap:
    """``n`` SynthWorld locations (``geoloc.synth.sample_locations(n, seed)``), four views each.

    Views are rendered at ``size`` px into ``cache_dir/synthworld-s{seed}-{size}px/`` as
    ``{i:05d}_{heading}.jpg`` next to a ``locations.csv`` (lat, lon, id) and reused on the next
    start. The default seed (2026) differs from the training data's seeds so the arena's places
    are not training places.
    """
    if n < 1:
        raise GeolocError(f"synthworld map: need at least 1 location, got {n}")
    folder = Path(cache_dir or default_cache_dir()) / f"synthworld-s{seed}-{size}px"
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "locations.csv"

    def files(i: int) -> list[Path]:
        return [folder / f"{i:05d}_{h}.jpg" for h in HEADINGS]

    cached = _read_location_index(index, n)
    if cached is not None and all(f.is_file() and f.stat().st_size > 0 for i in range(n) for f in files(i)):
        rows = cached
    else:
        from geoloc.synth import generate_scene, sample_locations

        locs = sample_locations(n, seed=seed)
        rows = [(float(r["lat"]), float(r["lon"]), str(r.get("id", i))) for i, r in enumerate(locs.to_dict("records"))]
        for i, row in enumerate(tqdm(locs.to_dict("records"), desc="arena: synthworld views", disable=not progress,
                                     unit="loc")):
            if all(f.is_file() and f.stat().st_size > 0 for f in files(i)):
                continue
            for f, img in zip(files(i), generate_scene(row, size=size, views=list(HEADINGS)), strict=True):
                tmp = f.with_suffix(".tmp")
                tmp.write_bytes(to_jpeg(img))
                tmp.replace(f)
        if cached is None:
            tmp = index.with_suffix(".tmp")
            tmp.write_text("lat,lon,id\n" + "".join(f"{la!r},{lo!r},{i}\n" for la, lo, i in rows))
            tmp.replace(index)
    out = [ArenaLocation(la, lo, tuple(f.read_bytes() for f in files(i)), sid)
           for i, (la, lo, sid) in enumerate(rows)]
    return ArenaMap(f"synthworld-s{seed}", tuple(out))


def _read_location_index(path: Path, n: int) -> list[tuple[float, float, str]] | None:
    """First ``n`` rows (lat, lon, id) of a cache index, or None when it is missing, short or damaged."""
    try:
        lines = path.read_text().splitlines()[1:]
        rows = [(float(a), float(b), c) for a, b, c in (line.split(",", 2) for line in lines)]
    except (OSError, ValueError):
        return None
    return rows[:n] if len(rows) >= n else None


def _heading_slot(headings: Sequence[float]) -> list[int] | None:
    """Order of ``headings`` matching :data:`HEADINGS` (within 1 degree), or None if they do not match."""
    hs = [float(h) % 360.0 for h in headings]
    if any(math.isnan(h) for h in hs):
        return None
    order = []
    for target in HEADINGS:
        hits = [j for j, h in enumerate(hs) if min(abs(h - target), 360 - abs(h - target)) < 1.0]
        if len(hits) != 1:
            return None
        order.append(hits[0])
    return order


def manifest_map(path: str | os.PathLike, *, view_size: int | None = 256, progress: bool = True) -> ArenaMap:
    """Locations from a manifest of four-view locations or of equirectangular panoramas.

    A location (rows sharing ``id``; each row its own location without ``id``) with 4 views is
    used as is: views ordered by ``heading`` when it holds 0/90/180/270, else taken in ``view``
    order as headings 0, 90, 180, 270. A location with 1 image is a 360x180 equirectangular
    panorama (left edge = north) split into four 90-degree views of ``view_size`` px. Other view
    counts, bad rows (``validate_manifest``) and unreadable images are skipped and listed in
    ``ArenaMap.skipped``; no usable location at all raises :class:`InputFileError`.
    """
    from geoloc.data import group_views, load_image, read_manifest, split_panorama, validate_manifest

    df = read_manifest(path)
    clean, report = validate_manifest(df)
    skipped = [str(p) for p in report.problems]
    root = df.attrs.get("root")
    clean.attrs["root"] = root
    locations, rejected = group_views(clean)
    skipped += [f"location {r.id}: {r.reason}" for r in rejected.itertuples()]
    out: list[ArenaLocation] = []
    for loc in tqdm(locations.itertuples(), total=len(locations), desc="arena: manifest views",
                    disable=not progress, unit="loc"):
        paths = [Path(p) if Path(p).is_absolute() else Path(root) / p for p in loc.paths]
        try:
            if len(paths) == 1:
                pano = load_image(paths[0])
                size = (view_size, view_size) if view_size else None
                views = split_panorama(pano, 4, headings=list(HEADINGS), out_size=size)
            elif len(paths) == 4:
                order = _heading_slot(loc.headings) or [0, 1, 2, 3]
                views = [load_image(paths[j]) for j in order]
            else:
                skipped.append(f"location {loc.id}: {len(paths)} views (need 4 views or 1 panorama)")
                continue
        except (GeolocError, OSError) as exc:
            skipped.append(f"location {loc.id}: {exc}")
            continue
        out.append(ArenaLocation(float(loc.lat), float(loc.lon), tuple(to_jpeg(v) for v in views), str(loc.id)))
    if not out:
        raise InputFileError(f"{path}: no usable arena location ({len(skipped)} skipped: "
                             + "; ".join(skipped[:5]) + ")")
    return ArenaMap(Path(path).stem, tuple(out), tuple(skipped))


def load_map(spec: str, *, locations: int = 50, seed: int = 2026, size: int = 256,
             cache_dir: str | os.PathLike | None = None, progress: bool = True) -> ArenaMap:
    """``"synthworld"`` -> :func:`synthworld_map`; anything else is a manifest path -> :func:`manifest_map`."""
    if spec == "synthworld":
        return synthworld_map(locations, seed=seed, size=size, cache_dir=cache_dir, progress=progress)
    if not Path(spec).exists():
        raise InputFileError(f"map {spec!r}: not 'synthworld' and no such manifest file")
    return manifest_map(spec, view_size=size, progress=progress)


def map_from_arrays(lat: Sequence[float], lon: Sequence[float], images: Sequence[Sequence[Image.Image]],
                    name: str = "custom") -> ArenaMap:
    """An in-memory map (tests, the bot's own fixtures): ``images[i]`` are four views of place ``i``."""
    lat_a = np.asarray(lat, dtype=float)
    lon_a = np.asarray(lon, dtype=float)
    from geoloc.geo.validate import check_coordinates

    check_coordinates(lat_a, lon_a, what="arena locations")
    locs = []
    for i, (la, lo, views) in enumerate(zip(lat_a, lon_a, images, strict=True)):
        if len(views) != len(HEADINGS):
            raise GeolocError(f"map_from_arrays: location {i} has {len(views)} views, need {len(HEADINGS)}")
        locs.append(ArenaLocation(float(la), float(lo), tuple(to_jpeg(v) for v in views), str(i)))
    return ArenaMap(name, tuple(locs))
