"""Predictors: views (PIL images) -> one guess (degrees).

* :class:`GeolocatorPredictor`: an in-process :class:`geoloc.predict.Geolocator` from a bundle.
* :class:`HttpPredictor`: a prediction server speaking PIGEON's bot protocol
  (``POST {url}`` with ``{image, image_2, image_3, image_4}`` base64 data URIs ->
  ``{"results": {"lat", "lng"}}``; FRONTENDS.md §1.1). :mod:`bot.predict_server` serves it.
* :class:`RandomPredictor`: uniform on the sphere (the benchmark's baseline player).
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from geoloc.errors import GeolocError


@dataclass(frozen=True)
class Guess:
    """A predicted location (degrees) and the milliseconds the prediction took."""

    lat: float
    lng: float
    ms: float


class Predictor(Protocol):
    name: str

    def predict(self, views: list[Image.Image]) -> Guess: ...


class GeolocatorPredictor:
    """Fuses all captured views of a location (1 in NMPZ, 4 otherwise) in one prediction."""

    def __init__(self, bundle: str | Path, device=None):
        from geoloc.predict import Geolocator

        self.geo = Geolocator.from_pretrained(bundle, device=device)
        self.name = f"geolocator:{Path(bundle).name}"

    def predict(self, views: list[Image.Image]) -> Guess:
        if not views:
            raise GeolocError("predictor: no views captured")
        t = time.perf_counter()
        pred = self.geo.predict([list(views)], views=None, top_k=1, top_regions=1, places=False)[0]
        if pred.error or pred.lat is None:
            raise GeolocError(f"predictor: model failed on the captured views: {pred.error}")
        return Guess(float(pred.lat), float(pred.lon), (time.perf_counter() - t) * 1e3)


def image_data_uri(img: Image.Image, quality: int = 90) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pigeon_payload(views: list[Image.Image], **extra) -> dict:
    """PIGEON's request body: ``image``, ``image_2`` ... as JPEG data URIs (plus ``extra``)."""
    body = dict(extra)
    for i, img in enumerate(views):
        body["image" if i == 0 else f"image_{i + 1}"] = image_data_uri(img)
    return body


class HttpPredictor:
    """Asks a prediction server over HTTP (PIGEON's ``/api/v1/predict`` protocol)."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url, self.timeout, self.name = url, timeout, f"http:{url}"

    def predict(self, views: list[Image.Image]) -> Guess:
        t = time.perf_counter()
        data = json.dumps(pigeon_payload(views)).encode()
        req = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                reply = json.loads(r.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise GeolocError(f"prediction server {self.url}: {exc}") from exc
        try:
            lat, lng = float(reply["results"]["lat"]), float(reply["results"]["lng"])
        except (KeyError, TypeError, ValueError):
            raise GeolocError(f"prediction server {self.url}: reply has no results.lat/lng: "
                              f"{str(reply)[:200]}") from None
        if not (math.isfinite(lat) and math.isfinite(lng) and abs(lat) <= 90):
            raise GeolocError(f"prediction server {self.url}: invalid coordinates {lat}, {lng}")
        return Guess(lat, lng, (time.perf_counter() - t) * 1e3)


class RandomPredictor:
    """Uniformly random points on the sphere (seeded); ignores the views."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.name = f"random(seed={seed})"

    def predict(self, views: list[Image.Image]) -> Guess:
        u, v = self.rng.random(2)
        lat = math.degrees(math.asin(2.0 * u - 1.0))
        return Guess(lat, 360.0 * v - 180.0, 0.0)


__all__ = ["GeolocatorPredictor", "Guess", "HttpPredictor", "Predictor", "RandomPredictor",
           "image_data_uri", "pigeon_payload"]
