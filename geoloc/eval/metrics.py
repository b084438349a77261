"""Geolocation metrics: pure numpy functions on predicted and true coordinates / labels.

Conventions: coordinates in degrees, errors in km (haversine on the 6371.0088 km sphere);
"acc@X km" is the fraction of predictions with error <= X km (PIGEON / IM2GPS style);
the GeoGuessr score is PIGEON's ``round(5000 exp(-d / 1492.7))`` averaged over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from geoloc.geo.distance import haversine_km
from geoloc.geo.score import geoguessr_score
from geoloc.geo.validate import check_coordinates

THRESHOLDS_KM: tuple[float, ...] = (1.0, 25.0, 200.0, 750.0, 2500.0)
"""PIGEON's distance thresholds: street, city, region, country, continent."""


def threshold_key(km: float) -> str:
    """``acc@25km`` style key for a threshold."""
    return f"acc@{km:g}km"


def distance_errors_km(pred_lat, pred_lon, true_lat, true_lon) -> np.ndarray:
    """Great-circle errors [N] in km; raises CoordinateError naming bad rows."""
    plat, plon = check_coordinates(pred_lat, pred_lon, what="predicted coordinates")
    tlat, tlon = check_coordinates(true_lat, true_lon, what="true coordinates")
    if plat.shape != tlat.shape:
        raise ValueError(f"{plat.size} predictions but {tlat.size} true locations")
    return np.asarray(haversine_km(plat, plon, tlat, tlon), dtype=np.float64).reshape(-1)


def accuracy_at_km(errors_km, thresholds: Sequence[float] = THRESHOLDS_KM) -> dict[str, float]:
    """``{"acc@Xkm": fraction of errors <= X}`` for each threshold (NaN for no rows)."""
    e = np.asarray(errors_km, dtype=np.float64).reshape(-1)
    return {threshold_key(t): (float(np.mean(e <= t)) if e.size else float("nan")) for t in thresholds}


def _missing(labels: np.ndarray) -> np.ndarray:
    out = np.zeros(labels.shape, bool)
    for i, v in enumerate(labels):
        out[i] = v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v == "")
    return out


def label_accuracy(pred, true) -> tuple[float, int]:
    """Accuracy of predicted labels (country / admin-1 codes) and the number of rows scored.

    Rows whose TRUE label is missing (None, NaN or "") are excluded; a missing prediction
    counts as wrong. Returns (NaN, 0) when no row has a true label.
    """
    p = np.asarray(pred, dtype=object).reshape(-1)
    t = np.asarray(true, dtype=object).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"{p.size} predicted labels but {t.size} true labels")
    known = ~_missing(t)
    n = int(known.sum())
    if n == 0:
        return float("nan"), 0
    hit = np.array([a == b for a, b in zip(p[known], t[known], strict=True)], dtype=bool) & ~_missing(p[known])
    return float(hit.mean()), n


def geolocation_metrics(
    pred_lat, pred_lon, true_lat, true_lon, *,
    pred_country=None, true_country=None, pred_admin1=None, true_admin1=None,
    thresholds: Sequence[float] = THRESHOLDS_KM,
) -> dict[str, Any]:
    """All headline metrics as a flat JSON-ready dict.

    Keys: ``n``, ``acc@1km`` ... ``acc@2500km``, ``median_km``, ``mean_km``,
    ``geoguessr_score`` (mean), and, when labels are given, ``country_acc`` / ``n_country`` and
    ``admin1_acc`` / ``n_admin1``.
    """
    e = distance_errors_km(pred_lat, pred_lon, true_lat, true_lon)
    out: dict[str, Any] = {"n": int(e.size), **accuracy_at_km(e, thresholds)}
    empty = e.size == 0
    out["median_km"] = float("nan") if empty else float(np.median(e))
    out["mean_km"] = float("nan") if empty else float(np.mean(e))
    out["geoguessr_score"] = float("nan") if empty else float(np.mean(geoguessr_score(e)))
    for name, p, t in (("country", pred_country, true_country), ("admin1", pred_admin1, true_admin1)):
        if p is not None and t is not None:
            acc, n = label_accuracy(p, t)
            out[f"{name}_acc"], out[f"n_{name}"] = acc, n
    return out
