"""Request bodies of the inference server -> locations of encoded views, and their decoding.

Three body formats (all lead to a :class:`PredictRequest`: its ``locations``, each a list of encoded
image views, and options):

* JSON (``POST /v1/predict``, ``Content-Type: application/json``)::

      {"id": "req-1", "top_k": 5, "layout": "auto", "views": 4,
       "images": ["<base64>", ...]}                  # one location per image
      {"locations": [["<base64>", "<base64>"], ...]} # or several views per location

  Exactly one of ``images`` / ``locations``. Base64 may be plain or a ``data:image/...;base64,`` URI.
  ``layout`` (``auto`` | ``single`` | ``panorama`` | ``strip`` | ``views``) and ``views`` mean what they
  mean in ``Geolocator.predict`` (:mod:`geoloc.data.layout`): how each image holds its views and how
  many views a panorama or strip is cut into (default: the model's own count).
* multipart/form-data (``POST /v1/predict``): files in fields ``image`` (each file one location) or
  ``view`` (all files are views of one location); optional form fields ``id``, ``top_k``, ``layout``,
  ``views``.
* PIGEON's bot protocol (``POST /api/v1/predict``): ``{"image": b64, "image_2": b64, ...}``, the views
  of one location (:func:`pigeon_views`).

Every problem is a :class:`RequestError` with an HTTP status and a one-line message: 400 (malformed,
undecodable image), 413 (too many bytes, pixels, locations or views), 415 (unsupported content type),
422 (well-formed but unusable values).
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from dataclasses import dataclass
from typing import Any

from geoloc.errors import GeolocError


class RequestError(GeolocError):
    """A request the server refuses: HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(" ".join(str(message).split()))
        self.status = int(status)


@dataclass(frozen=True)
class Limits:
    """What one request may hold. Bytes are of the whole body; pixels per image (width x height)."""

    max_body_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_locations: int = 64
    max_views: int = 8
    max_top_k: int = 50


@dataclass
class PredictRequest:
    """One prediction request: ``locations[i]`` = encoded images (bytes) of location i, named ``names[i]``;
    ``grouped``: each location was given as a list of views (JSON ``locations``, multipart ``view``), not
    as one image (which ``layout`` may then cut)."""

    id: str
    locations: list[list[bytes]]
    names: list[str]
    top_k: int = 5
    layout: str = "auto"
    views: int | None = None
    grouped: bool = False


def new_request_id() -> str:
    return uuid.uuid4().hex


def b64_image(value: Any, what: str) -> bytes:
    """Decode one base64 string (plain or data URI); RequestError(400) naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise RequestError(400, f"{what} must be a base64 string, got {type(value).__name__}")
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"{what} is not valid base64") from None
    if not data:
        raise RequestError(400, f"{what} is empty")
    return data


def _layout_option(value: Any) -> str:
    from geoloc.data.layout import LAYOUTS

    if value is None or value == "":
        return "auto"
    if value not in LAYOUTS:
        raise RequestError(422, f"layout must be one of {', '.join(LAYOUTS)}, got {value!r}")
    return str(value)


def _int_option(value: Any, name: str, lo: int, hi: int, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise RequestError(422, f"{name} must be an integer, got {value!r}") from None
    if not lo <= number <= hi:
        raise RequestError(422, f"{name} must be in {lo}..{hi}, got {number}")
    return number


def _check_counts(locations: list[list], limits: Limits) -> None:
    if not locations:
        raise RequestError(400, "no image in the request")
    if len(locations) > limits.max_locations:
        raise RequestError(413, f"{len(locations)} locations in one request; the limit is {limits.max_locations}")
    for i, views in enumerate(locations):
        if not views:
            raise RequestError(400, f"location {i} has no views")
        if len(views) > limits.max_views:
            raise RequestError(413, f"location {i} has {len(views)} views; the limit is {limits.max_views}")


def from_json(doc: Any, limits: Limits, request_id: str | None = None) -> PredictRequest:
    """The JSON body of ``POST /v1/predict`` (see the module docstring)."""
    if not isinstance(doc, dict):
        raise RequestError(400, "the JSON body must be an object with 'images' or 'locations'")
    if ("images" in doc) == ("locations" in doc):
        raise RequestError(400, "give exactly one of 'images' (one location each) or 'locations' (lists of views)")
    raw = doc["images"] if "images" in doc else doc["locations"]
    if "images" in doc and not isinstance(raw, list):
        raise RequestError(400, "'images' must be a list of base64 strings")
    if "locations" in doc and (not isinstance(raw, list) or not all(isinstance(v, list) for v in raw)):
        raise RequestError(400, "'locations' must be a list of lists of base64 strings (the views)")
    _check_counts([[None]] * len(raw) if "images" in doc else raw, limits)
    if "images" in doc:
        locations = [[b64_image(x, f"images[{i}]")] for i, x in enumerate(raw)]
        names = [f"images[{i}]" for i in range(len(raw))]
    else:
        locations = [[b64_image(x, f"locations[{i}][{j}]") for j, x in enumerate(views)]
                     for i, views in enumerate(raw)]
        names = [f"locations[{i}]" for i in range(len(raw))]
    rid = doc.get("id", request_id)
    return PredictRequest(id=str(rid) if rid not in (None, "") else new_request_id(), locations=locations,
                          names=names, top_k=_int_option(doc.get("top_k"), "top_k", 1, limits.max_top_k, 5),
                          layout=_layout_option(doc.get("layout")), grouped="locations" in doc,
                          views=_int_option(doc.get("views"), "views", 1, limits.max_views, None))


async def from_multipart(form, limits: Limits, request_id: str | None = None) -> PredictRequest:
    """A parsed multipart form (Starlette ``FormData``) of ``POST /v1/predict``."""
    files = [(k, v) for k, v in form.multi_items() if hasattr(v, "read")]
    images = [v for k, v in files if k == "image"]
    views = [v for k, v in files if k == "view"]
    other = sorted({k for k, _ in files if k not in ("image", "view")})
    if other:
        raise RequestError(400, f"unknown file field(s) {', '.join(other)}; use 'image' (one location per file) "
                                "or 'view' (all files are views of one location)")
    if images and views:
        raise RequestError(400, "use either 'image' files (one location each) or 'view' files (one location)")
    _check_counts([[f] for f in images] if images else ([views] if views else []), limits)
    if images:
        locations = [[await f.read()] for f in images]
        names = [f.filename or f"image[{i}]" for i, f in enumerate(images)]
    else:
        locations = [[await f.read() for f in views]] if views else []
        names = [" + ".join(f.filename or f"view[{i}]" for i, f in enumerate(views))]
    for name, views_of in zip(names, locations, strict=True):
        if any(len(b) == 0 for b in views_of):
            raise RequestError(400, f"{name}: empty file (0 bytes)")
    rid = form.get("id") or request_id
    return PredictRequest(id=str(rid) if rid else new_request_id(), locations=locations, names=names,
                          top_k=_int_option(form.get("top_k"), "top_k", 1, limits.max_top_k, 5),
                          layout="views" if views else _layout_option(form.get("layout")), grouped=bool(views),
                          views=_int_option(form.get("views"), "views", 1, limits.max_views, None))


def pigeon_views(body: Any) -> list[bytes]:
    """PIGEON's bot protocol: the ``image``, ``image_2``, ... fields in order, decoded (one location)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the JSON body must be an object with an 'image' field")
    numbered = []
    for k in body:
        if k.startswith("image_"):
            try:
                numbered.append((int(k[6:]), k))
            except ValueError:
                continue
    keys = ["image", *(k for _, k in sorted(numbered))]
    views = [b64_image(body[k], f"field {k!r}") for k in keys if body.get(k) is not None]
    if not views:
        raise RequestError(400, "no 'image' field")
    return views


def decode_location(views: list[bytes], name: str, limits: Limits, layout: str = "auto",
                    n_views: int = 4, grouped: bool = False) -> tuple[list, str]:
    """Encoded images of one location -> (RGB PIL views, the layout used), by ``Geolocator.predict``'s own
    rule (:func:`geoloc.predict.decode_views`): ``grouped`` images are the location's views, a single one
    is read by ``layout`` (cut into ``n_views`` when it is a panorama or a strip). Each image's size is checked from its header first. RequestError: 413 over
    ``limits.max_pixels``, 400 when an image cannot be decoded, 422 when the layout does not fit."""
    from geoloc.data.images import open_image
    from geoloc.errors import ImageDecodeError
    from geoloc.predict import decode_views

    bufs = []
    for j, data in enumerate(views):
        buf = io.BytesIO(data)
        buf.name = name if len(views) == 1 else f"{name} view {j}"
        try:
            w, h = open_image(buf, max_pixels=None).size
        except ImageDecodeError as exc:
            raise RequestError(400, str(exc)) from None
        if w * h > limits.max_pixels:
            raise RequestError(413, f"{buf.name}: {w}x{h} = {w * h:,} pixels; the limit is {limits.max_pixels:,}")
        buf.seek(0)
        bufs.append(buf)
    item = bufs if grouped else bufs[0]
    try:
        return decode_views(item, layout, n_views)
    except ImageDecodeError as exc:
        raise RequestError(400, str(exc)) from None
    except GeolocError as exc:
        raise RequestError(422, f"{name}: {exc}") from None


__all__ = ["Limits", "PredictRequest", "RequestError", "b64_image", "decode_location", "from_json",
           "from_multipart", "new_request_id", "pigeon_views"]
