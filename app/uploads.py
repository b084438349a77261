"""Uploaded files -> decoded views -> predictions, one :class:`app.results.Result` per location.

Every file is checked on its own (empty, over the byte limit, not an image, corrupt, over the pixel
limit), so one bad file gets its message and the others are still predicted. The EXIF GPS position
is read from the file's bytes for the EXIF panel only: the model receives decoded RGB pixels.

Input modes (``MODES``):

* ``auto``: one photo per place; a 2:1 equirectangular panorama (aspect 1.9..2.1, at least 1000 px
  wide) is cut into 4 views, a 4:1 strip of four views is cut apart (:mod:`geoloc.data.layout`, the
  same rule as ``Geolocator.predict(layout="auto")``);
* ``panorama``: every file is an equirectangular panorama, cut into 4 views;
* ``strip``: every file is four views side by side, cut apart;
* ``single``: every file is one view, never cut;
* ``views``: all the files are views of one place (fused by the model).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.results import Result
from geoloc.data.layout import cut_views, infer_layout
from geoloc.errors import GeolocError

MODES = {
    "auto": "one photo per place (2:1 panoramas are cut into 4 views)",
    "panorama": "every file is a 360° panorama (cut into 4 views)",
    "strip": "every file is 4 views stitched side by side (cut apart)",
    "single": "one view per file (never cut)",
    "views": "all files are views of one place",
}
PANORAMA_VIEWS = 4
DEFAULT_MAX_UPLOAD_MB = 50.0
MAX_VIEWS = 8
THUMBNAIL_PX = 256


def max_upload_bytes() -> int:
    """Per-file byte limit: ``$GEOLOC_APP_MAX_UPLOAD_MB`` (MB) or ``DEFAULT_MAX_UPLOAD_MB``."""
    raw = os.environ.get("GEOLOC_APP_MAX_UPLOAD_MB")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_MAX_UPLOAD_MB
    return int(mb * 1024 * 1024)


@dataclass
class Upload:
    """One uploaded file: its name and raw bytes."""

    name: str
    data: bytes


@dataclass
class Prepared:
    """A decoded upload: RGB PIL ``views`` (empty on error), EXIF (lat, lon) or None, and a note."""

    name: str
    views: list = field(default_factory=list)
    exif: tuple[float, float] | None = None
    error: str | None = None
    note: str = ""


def read_exif_position(data: bytes) -> tuple[float, float] | None:
    """(lat, lon) degrees from the file's EXIF GPS, or None (no GPS, or unreadable EXIF)."""
    from geoloc.data.exif import read_exif_gps

    try:
        fix = read_exif_gps(bytes(data))
    except (GeolocError, OSError, ValueError):
        return None
    return None if fix is None else (float(fix.lat), float(fix.lon))


def prepare_upload(upload: Upload, mode: str = "auto", *, max_bytes: int | None = None) -> Prepared:
    """Check and decode one file (see the module docstring); errors go into ``Prepared.error``."""
    from geoloc.data import load_image

    if mode not in MODES:
        raise GeolocError(f"unknown input mode {mode!r}; use one of {', '.join(MODES)}")
    limit = max_upload_bytes() if max_bytes is None else max_bytes
    size = len(upload.data)
    if size == 0:
        return Prepared(upload.name, error=f"{upload.name}: empty file (0 bytes)")
    if size > limit:
        return Prepared(upload.name, error=f"{upload.name}: file too large ({size / 2**20:.1f} MB; "
                                           f"the limit is {limit / 2**20:.0f} MB)")
    buf = io.BytesIO(upload.data)
    buf.name = upload.name
    try:
        img = load_image(buf)
    except GeolocError as exc:
        return Prepared(upload.name, error=str(exc))
    except Exception as exc:  # a decoder bug must not take the other files down
        return Prepared(upload.name, error=f"{upload.name}: cannot decode image ({type(exc).__name__}: {exc})")
    exif = read_exif_position(upload.data)
    w, h = img.size
    layout = infer_layout(upload.name, (w, h), PANORAMA_VIEWS) if mode == "auto" else mode
    if layout in ("panorama", "strip"):
        views = cut_views(img, layout, PANORAMA_VIEWS)
        return Prepared(upload.name, views=views, exif=exif,
                        note=f"{w}x{h} {layout} cut into {PANORAMA_VIEWS} views")
    return Prepared(upload.name, views=[img], exif=exif)


def prepare_uploads(uploads: Sequence[Upload], mode: str = "auto", *,
                    max_bytes: int | None = None) -> list[Prepared]:
    """:func:`prepare_upload` for each file; ``mode="views"`` merges the readable files into one
    location (named after its files) and keeps the unreadable ones as separate errors."""
    if mode != "views":
        return [prepare_upload(u, mode, max_bytes=max_bytes) for u in uploads]
    each = [prepare_upload(u, "single", max_bytes=max_bytes) for u in uploads]
    good = [p for p in each if p.error is None]
    bad = [p for p in each if p.error is not None]
    if not good:
        return bad
    if len(good) > MAX_VIEWS:
        return [*bad, Prepared(" + ".join(p.name for p in good),
                               error=f"{len(good)} views of one place; at most {MAX_VIEWS} are fused")]
    exif = next((p.exif for p in good if p.exif is not None), None)
    merged = Prepared(" + ".join(p.name for p in good), views=[v for p in good for v in p.views], exif=exif,
                      note=f"{len(good)} views of one place")
    return [merged, *bad]


def thumbnail(img, max_side: int = THUMBNAIL_PX):
    """A copy of a PIL image no larger than ``max_side`` px on its longer side (for display)."""
    out = img.copy()
    out.thumbnail((max_side, max_side))
    return out


def predict_prepared(geolocator, prepared: Sequence[Prepared], *, top_k: int = 5) -> list[Result]:
    """Predict every readable location in one batched call; one :class:`Result` per location, in order."""
    readable = [p for p in prepared if p.error is None]
    preds = geolocator.predict([list(p.views) for p in readable], views=None, top_k=top_k) if readable else []
    it = iter(preds)
    out = []
    for p in prepared:
        if p.error is not None:
            out.append(Result(name=p.name, error=p.error, exif=None))
            continue
        pred = next(it)
        pred.source = p.name
        out.append(Result(name=p.name, prediction=pred, exif=p.exif, views=len(p.views), note=p.note,
                          thumbnails=[thumbnail(v) for v in p.views]))
    return out


def locate_uploads(geolocator, uploads: Sequence[Upload], mode: str = "auto", *, top_k: int = 5,
                   max_bytes: int | None = None) -> list[Result]:
    """Uploaded files -> results (:func:`prepare_uploads` then :func:`predict_prepared`)."""
    return predict_prepared(geolocator, prepare_uploads(uploads, mode, max_bytes=max_bytes), top_k=top_k)


def content_key(uploads: Sequence[Upload], mode: str, extra: Any = None) -> str:
    """A SHA-256 over the files' names and bytes, the mode and ``extra``: the cache key of a batch."""
    import hashlib

    h = hashlib.sha256(f"{mode}|{extra}".encode())
    for u in uploads:
        h.update(u.name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(u.data).digest())
    return h.hexdigest()


__all__ = ["DEFAULT_MAX_UPLOAD_MB", "MODES", "PANORAMA_VIEWS", "Prepared", "Upload", "content_key",
           "locate_uploads", "max_upload_bytes", "predict_prepared", "prepare_upload",
           "prepare_uploads", "read_exif_position"]
