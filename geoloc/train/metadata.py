"""Caption and label metadata for any manifest with coordinates (PIGEON's ``geo_augmentor``).

A plain ``path,lat,lon`` manifest carries no town, region or climate, so its captions would all
be the same sentence and the auxiliary heads would have nothing to learn. :func:`derive_metadata`
fills what is missing from the project's own geography (:func:`geoloc.geo.facts.location_facts`:
country and admin-1 from Natural Earth, the nearest town from the gazetteer, continent, climate
class, driving side) and the capture month from a date column or the images' EXIF, exactly as
SynthWorld's metadata is made. Columns the manifest already has are kept as they are.

:func:`caption_diversity` measures how much the captions say: distinct captions per place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DERIVED_GROUPS: tuple[tuple[str, ...], ...] = (("adm0_a3", "country"), ("adm1_code", "admin1"), ("town",),
                                               ("continent",), ("climate",), ("drives_left",))
"""Columns filled from the coordinates when a manifest lacks them (or has them empty). When a
manifest has some column of a group (its own ``country`` labels, say), only that column is filled,
in the rows where it is empty, so its labels are never mixed with a derived ``adm0_a3`` column
(an auxiliary head reads the first present column of its task)."""
DERIVED_COLUMNS = tuple(c for group in DERIVED_GROUPS for c in group)

DATE_COLUMNS = ("date", "datetime", "date_taken", "capture_date", "captured_at", "timestamp", "time")
"""Manifest columns a capture month is read from (first present wins) when there is no ``month``."""

MIN_CAPTION_DIVERSITY = 0.10
"""Below this many distinct captions per place, pretraining learns little (warn; refuse under strict)."""


@dataclass
class MetadataReport:
    """What :func:`derive_metadata` did: columns derived from coordinates, where the month came
    from (``"manifest"``, ``"date column <name>"``, ``"exif"`` or ``None``), and how many rows got one."""

    derived: list[str] = field(default_factory=list)
    month_source: str | None = None
    months_found: int = 0

    def summary(self) -> str:
        parts = [f"derived {', '.join(self.derived)} from the coordinates"] if self.derived else []
        if self.month_source:
            parts.append(f"month for {self.months_found} location(s) from {self.month_source}")
        return "; ".join(parts) or "metadata taken from the manifest as it is"


def _missing(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Rows whose ``col`` is absent, NaN or blank."""
    if col not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    v = frame[col]
    return (v.isna() | v.astype(str).str.strip().isin(("", "nan", "None"))).to_numpy()


def months_from_dates(values: pd.Series) -> np.ndarray:
    """Month (1..12, float; NaN where unparseable) of date-like values (ISO strings, EXIF
    ``YYYY:MM:DD HH:MM:SS``, datetimes, Unix seconds)."""
    v = values
    if pd.api.types.is_numeric_dtype(v):
        parsed = pd.to_datetime(v, unit="s", errors="coerce", utc=True)
    else:
        text = v.astype(str).str.strip()
        exif_like = text.str.match(r"^\d{4}:\d{2}:\d{2}")
        text = text.where(~exif_like, text.str.replace(r"^(\d{4}):(\d{2}):(\d{2})", r"\1-\2-\3", regex=True))
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    return parsed.dt.month.to_numpy(dtype=np.float64)


def _exif_months(paths: Sequence[tuple[str, ...]]) -> np.ndarray:
    from geoloc.data.exif import read_exif_month
    from geoloc.errors import GeolocError

    out = np.full(len(paths), np.nan)
    for i, views in enumerate(paths):
        try:
            m = read_exif_month(views[0])
        except (GeolocError, OSError):
            m = None
        if m is not None:
            out[i] = m
    return out


def derive_metadata(frame: pd.DataFrame, *, read_exif: bool = True) -> tuple[pd.DataFrame, MetadataReport]:
    """A copy of a locations frame (``lat``, ``lon`` degrees; ``paths``) with the caption and label
    metadata filled in where missing (see the module docstring). ``read_exif``: read the capture
    month from the first image's EXIF when the manifest has no month or date column."""
    from geoloc.geo.facts import location_facts

    out = frame.copy()
    report = MetadataReport()
    need = {}
    for group in DERIVED_GROUPS:
        present = [c for c in group if c in out.columns and (~_missing(out, c)).any()]
        for c in present or group:
            need[c] = _missing(out, c)
    if any(m.any() for m in need.values()):
        facts = location_facts(out["lat"].to_numpy(np.float64), out["lon"].to_numpy(np.float64))
        for col, rows in need.items():
            if not rows.any():
                continue
            if col not in out.columns and rows.all():
                out[col] = facts[col].to_numpy()
            else:
                out[col] = out[col].astype(object) if col in out.columns else None
                out.loc[rows, col] = facts[col].to_numpy()[rows]
            report.derived.append(col)
    if "month" in out.columns and (~_missing(out, "month")).any():
        report.month_source = "manifest"
        report.months_found = int((~_missing(out, "month")).sum())
        return out, report
    date_col = next((c for c in DATE_COLUMNS if c in out.columns and out[c].notna().any()), None)
    if date_col is not None:
        months = months_from_dates(out[date_col])
        report.month_source = f"date column {date_col!r}"
    elif read_exif and "paths" in out.columns:
        months = _exif_months(list(out["paths"]))
        report.month_source = "exif"
    else:
        return out, report
    report.months_found = int(np.isfinite(months).sum())
    if report.months_found:
        out["month"] = months
    else:
        report.month_source = None
    return out, report


def caption_diversity(captions: Sequence[str], places: int | None = None) -> float:
    """Distinct captions per place, at most 1 (1 = every place has its own caption; 1/N = one sentence
    for all N places). ``places``: how many locations the captions describe (default: one per caption);
    the views of one location and several captions of it count once, so they cannot dilute the measure."""
    return min(1.0, len(set(captions)) / max(1, places if places is not None else len(captions)))


__all__ = ["DATE_COLUMNS", "DERIVED_COLUMNS", "MIN_CAPTION_DIVERSITY", "MetadataReport", "caption_diversity",
           "derive_metadata", "months_from_dates"]
