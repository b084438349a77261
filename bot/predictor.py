"""Predictors: views (PIL images) -> one guess (degrees).

* :class:`GeolocatorPredictor`: an in-process :class:`geoloc.predict.Geolocator` from a bundle.
* :class:`HttpPredictor`: a prediction server speaking PIGEON's bot protocol
  (``POST {url}`` with ``{image, image_2, image_3, image_4}`` base64 data URIs ->
  ``{"results": {"lat", "lng"}}``; FRONTENDS.md §1.1). ``geoloc serve`` (:mod:`geoloc.serve`) serves it.
* :class:`RandomPredictor`: uniform on the sphere (the benchmark's baseline player).

Country streaks ask :meth:`predict_country` (views -> the most probable country, a lowercase ISO
alpha-2 code): the model's ``Prediction.countries`` summed per alpha-2 code
(:func:`geoloc.geo.countries.rank_alpha2`); the HTTP protocol returns only a point, whose country
is then looked up; the random player picks a country uniformly; :class:`ConstantCountryPredictor`
always names the same country (the benchmark's most-common-country baseline).
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


@dataclass(frozen=True)
class CountryGuess:
    """A country pick: lowercase alpha-2 ``code``, its ``probability`` (None when unknown), ms taken."""

    code: str
    probability: float | None
    ms: float


class Predictor(Protocol):
    name: str

    def predict(self, views: list[Image.Image]) -> Guess: ...

    def predict_country(self, views: list[Image.Image]) -> CountryGuess: ...


def _country_of_point(guess: Guess) -> CountryGuess:
    """The country under a point guess (the model gave a point only); "" at sea."""
    from geoloc.geo.countries import country_codes

    t = time.perf_counter()
    code = str(country_codes(guess.lat, guess.lng, max_km=500.0)[0])
    return CountryGuess(code, None, guess.ms + (time.perf_counter() - t) * 1e3)


class GeolocatorPredictor:
    """Fuses all captured views of a location (1 in NMPZ, 4 otherwise) in one prediction. ``source``: any
    model source of :mod:`geoloc.sources` (a bundle folder, ``hf-hub:`` bundle, ``zero-shot:`` spec, a
    :class:`~geoloc.sources.ModelSource`, or None for ``$GEOLOC_MODEL`` / the default model)."""

    def __init__(self, source=None, device=None):
        from geoloc.sources import ModelSource, load_predictor

        src = source if isinstance(source, ModelSource) else ModelSource.parse(str(source)) if source else None
        self.geo = load_predictor(src, device=device)
        bundle = getattr(self.geo, "bundle", None)
        label = Path(bundle.path).name if bundle is not None and bundle.path else (src.describe() if src else "default")
        self.name = f"geolocator:{label}"

    def predict(self, views: list[Image.Image]) -> Guess:
        if not views:
            raise GeolocError("predictor: no views captured")
        t = time.perf_counter()
        pred = self.geo.predict([list(views)], views=None, top_k=1, top_regions=1, places=False)[0]
        if pred.error or pred.lat is None:
            raise GeolocError(f"predictor: model failed on the captured views: {pred.error}")
        return Guess(float(pred.lat), float(pred.lon), (time.perf_counter() - t) * 1e3)

    def predict_country(self, views: list[Image.Image]) -> CountryGuess:
        """The country with the highest probability, all of the model's countries summed per alpha-2."""
        from geoloc.geo.countries import rank_alpha2

        if not views:
            raise GeolocError("predictor: no views captured")
        t = time.perf_counter()
        pred = self.geo.predict([list(views)], views=None, top_k=1, top_regions=None, places=False)[0]
        ranked = rank_alpha2(pred.countries) if not pred.error else []
        if not ranked:
            raise GeolocError(f"predictor: the model gave no country for the captured views: {pred.error}")
        code, p = ranked[0]
        return CountryGuess(code, p, (time.perf_counter() - t) * 1e3)


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

    def predict_country(self, views: list[Image.Image]) -> CountryGuess:
        """PIGEON's protocol returns a point only: its country (within 500 km of a coast)."""
        return _country_of_point(self.predict(views))


class RandomPredictor:
    """Uniformly random points on the sphere (seeded); ignores the views."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.name = f"random(seed={seed})"

    def predict(self, views: list[Image.Image]) -> Guess:
        u, v = self.rng.random(2)
        lat = math.degrees(math.asin(2.0 * u - 1.0))
        return Guess(lat, 360.0 * v - 180.0, 0.0)

    def predict_country(self, views: list[Image.Image]) -> CountryGuess:
        """A country drawn uniformly from every country code of the boundaries."""
        from geoloc.geo.countries import country_names

        codes = sorted(country_names())
        return CountryGuess(codes[int(self.rng.integers(len(codes)))], 1.0 / len(codes), 0.0)


class ConstantCountryPredictor:
    """Always names the same country (country streaks only)."""

    def __init__(self, code: str):
        from geoloc.geo.countries import country_names

        if code.lower() not in country_names():
            raise GeolocError(f"unknown country code {code!r} (lowercase ISO 3166-1 alpha-2)")
        self.code = code.lower()
        self.name = f"always:{self.code}"

    def predict(self, views: list[Image.Image]) -> Guess:
        raise GeolocError(f"{self.name} names a country only; it cannot guess a point")

    def predict_country(self, views: list[Image.Image]) -> CountryGuess:
        return CountryGuess(self.code, None, 0.0)


__all__ = ["ConstantCountryPredictor", "CountryGuess", "GeolocatorPredictor", "Guess", "HttpPredictor", "Predictor",
           "RandomPredictor",
           "image_data_uri", "pigeon_payload"]
