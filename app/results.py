"""Tables and downloads of predictions: pure functions from ``Prediction``s to DataFrames and bytes.

A :class:`Result` is one uploaded location: its name, the model's :class:`geoloc.predict.Prediction`
(or None when the file could not be read), the camera's EXIF GPS fix (shown, never fed to the model)
and the error message for that file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from geoloc.geo import haversine_km
from geoloc.jsonsafe import finite


@dataclass
class Result:
    """One uploaded location. ``exif`` = (lat, lon) degrees from the file's EXIF GPS, or None."""

    name: str
    prediction: Any = None
    exif: tuple[float, float] | None = None
    error: str | None = None
    views: int = 1
    note: str = ""
    truth: tuple[float, float] | None = None
    thumbnails: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.prediction is not None and self.prediction.ok

    @property
    def message(self) -> str:
        """Why this file has no prediction ('' when it has one)."""
        if self.error:
            return self.error
        if self.prediction is not None and self.prediction.error:
            return self.prediction.error
        return ""

    @property
    def exif_km(self) -> float | None:
        """Great-circle km between the camera's EXIF position and the model's guess."""
        if not self.ok or self.exif is None:
            return None
        return float(haversine_km(self.exif[0], self.exif[1], self.prediction.lat, self.prediction.lon))


def guess_place(prediction):
    """The nearest place of the final guess: the refined point's, else the top-1 cell's (None when unknown)."""
    if prediction.refined is not None:
        return prediction.refined.place
    return prediction.top_k[0].place if prediction.top_k else None


def place_name(place) -> str:
    """``"Name, Admin-1 (CC)"`` of a gazetteer place (parts the gazetteer leaves empty are left out);
    "" for None."""
    if place is None:
        return ""
    text = ", ".join(x for x in (place.name, place.admin1) if x)
    return f"{text} ({place.cc})" if place.cc else text


def country_name(prediction, code: str) -> str:
    """The name of the country with ISO alpha-3 ``code`` among the prediction's ranked countries (a top-k
    cell's country is ranked at least as high as the cell), else the code itself."""
    return next((c.name for c in prediction.countries if c.code == code and c.name), code)


def top_k_table(prediction) -> pd.DataFrame:
    """One row per top-k geocell: rank, probability (%), lat, lon (degrees), cell, country (name),
    admin-1 (name, with its ISO 3166-2 code where there is one), nearest place and its distance (km)."""
    rows = [{"rank": r, "probability %": round(100 * t.probability, 2), "lat": round(t.lat, 4),
             "lon": round(t.lon, 4), "geocell": t.cell_name, "country": country_name(prediction, t.country),
             "admin-1": f"{t.admin1} ({t.admin1_iso})" if t.admin1_iso else t.admin1, "nearest place": place_name(t.place),
             "place km": None if t.place is None else round(t.place.distance_km, 1)}
            for r, t in enumerate(prediction.top_k, 1)]
    return pd.DataFrame(rows, columns=["rank", "probability %", "lat", "lon", "geocell", "country", "admin-1",
                                       "nearest place", "place km"])


def country_table(prediction, n: int = 8) -> pd.DataFrame:
    """The ``n`` most probable countries: ``country`` (name), ``code`` (ISO alpha-3), ``probability`` (0..1)."""
    rows = [{"country": c.name or c.code, "code": c.code, "probability": c.probability}
            for c in prediction.countries[:n]]
    return pd.DataFrame(rows, columns=["country", "code", "probability"])


def admin1_table(prediction, n: int = 8) -> pd.DataFrame:
    """The ``n`` most probable admin-1 units: ``admin-1`` (name), ``ISO 3166-2`` ("" where Natural Earth has
    none), ``probability`` (0..1). Natural Earth's own ids (``code``) stay out of the table."""
    rows = [{"admin-1": a.name or a.iso or a.code, "ISO 3166-2": a.iso, "probability": a.probability}
            for a in prediction.admin1[:n]]
    return pd.DataFrame(rows, columns=["admin-1", "ISO 3166-2", "probability"])


BATCH_COLUMNS = ["file", "status", "lat", "lon", "country", "top-1 %", "nearest place", "views",
                 "exif lat", "exif lon", "exif km", "ms", "error"]


def batch_table(results: Sequence[Result]) -> pd.DataFrame:
    """One row per uploaded location (failed ones included, with their error): see ``BATCH_COLUMNS``."""
    rows = []
    for res in results:
        p = res.prediction
        ok = res.ok
        place = guess_place(p) if ok else None
        rows.append({
            "file": res.name, "status": "ok" if ok else "error",
            "lat": round(p.lat, 5) if ok else None, "lon": round(p.lon, 5) if ok else None,
            "country": (p.countries[0].name or p.countries[0].code) if ok and p.countries else "",
            "top-1 %": round(100 * p.top_k[0].probability, 2) if ok else None,
            "nearest place": place_name(place), "views": res.views if ok else None,
            "exif lat": None if res.exif is None else round(res.exif[0], 5),
            "exif lon": None if res.exif is None else round(res.exif[1], 5),
            "exif km": None if res.exif_km is None else round(res.exif_km, 1),
            "ms": round(p.timings_ms.get("total", 0.0), 1) if ok else None,
            "error": res.message,
        })
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)


def batch_csv(results: Sequence[Result]) -> bytes:
    """The batch table as UTF-8 CSV."""
    return batch_table(results).to_csv(index=False).encode("utf-8")


def batch_json(results: Sequence[Result]) -> bytes:
    """Every location as JSON: ``file, ok, error, views, exif {lat, lon, distance_km} | null,
    prediction`` (``Prediction.to_dict()``; null for unreadable files)."""
    doc = []
    for res in results:
        exif = None
        if res.exif is not None:
            exif = {"lat": res.exif[0], "lon": res.exif[1], "distance_km": res.exif_km}
        doc.append({"file": res.name, "ok": res.ok, "error": res.message or None, "views": res.views,
                    "exif": exif, "prediction": res.prediction.to_dict() if res.ok else None})
    return json.dumps(finite(doc), indent=2).encode("utf-8")


__all__ = [
    "BATCH_COLUMNS",
    "Result",
    "admin1_table",
    "batch_csv",
    "batch_json",
    "batch_table",
    "country_name",
    "country_table",
    "guess_place",
    "place_name",
    "top_k_table",
]
