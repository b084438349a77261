"""Synthetic location captions for contrastive pretraining (PIGEON.md §1.3).

PIGEON pretrains CLIP on captions generated from each image's metadata:
"A street view photo close to the town of T in the region of R in C." plus random
auxiliary clauses (Köppen climate, driving side, compass direction, month), each added with
its own probability. PIGEOTTO starts with "A photo I took ..." and adds climate and driving
side only. Several captions per location (different random clauses) feed DreamLIP's
multi-caption loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

CLIMATE_NAMES = {
    "Af": "tropical rainforest", "Am": "tropical monsoon", "Aw": "tropical savanna",
    "BW": "arid desert", "BWh": "hot desert", "BWk": "cold desert",
    "BS": "semi-arid steppe", "BSh": "hot semi-arid", "BSk": "cold semi-arid",
    "Cs": "Mediterranean", "Csa": "hot-summer Mediterranean", "Csb": "warm-summer Mediterranean",
    "Cf": "humid temperate", "Cfa": "humid subtropical", "Cfb": "temperate oceanic",
    "Cw": "dry-winter temperate", "D": "continental", "Dfa": "hot-summer humid continental",
    "Dfb": "warm-summer humid continental", "Dfc": "subarctic", "E": "polar", "ET": "tundra", "EF": "ice cap",
}
"""Köppen codes -> words used in the climate clause (unknown codes are used as they are)."""

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
COMPASS = ("north", "east", "south", "west")

CLAUSE_PROBABILITIES: dict[str, dict[str, float]] = {
    "streetview": {"climate": 0.6, "driving": 0.4, "direction": 0.3, "month": 0.3},
    "photo": {"climate": 0.45, "driving": 0.2},
}
"""Probability of each auxiliary clause per caption (PIGEON: 0.3..0.6; PIGEOTTO climate 0.45,
driving side 0.2)."""

CLAUSE_ORDER = ("climate", "driving", "direction", "month")


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return str(v).strip()


def base_caption(town: Any = None, region: Any = None, country: Any = None, *, style: str = "streetview") -> str:
    """PIGEON's base caption; parts whose value is missing are left out.

    >>> base_caption("Arles", "Provence-Alpes-Côte-d'Azur", "France")
    "A street view photo close to the town of Arles in the region of Provence-Alpes-Côte-d'Azur in France."
    """
    lead = {"streetview": "A street view photo", "photo": "A photo I took"}.get(style)
    if lead is None:
        raise ValueError(f"caption style must be 'streetview' or 'photo', got {style!r}")
    parts = [lead]
    if _text(town):
        parts.append(f"close to the town of {_text(town)}")
    if _text(region):
        parts.append(f"in the region of {_text(region)}")
    if _text(country):
        parts.append(f"in {_text(country)}")
    return " ".join(parts) + "."


def climate_clause(code: Any) -> str | None:
    code = _text(code)
    if not code:
        return None
    return f"This location has a {CLIMATE_NAMES.get(code, code)} climate."


def driving_clause(drives_left: Any) -> str | None:
    if drives_left is None or (isinstance(drives_left, float) and not np.isfinite(drives_left)):
        return None
    if isinstance(drives_left, str):
        if drives_left.strip().lower() not in ("true", "false", "1", "0", "left", "right"):
            return None
        left = drives_left.strip().lower() in ("true", "1", "left")
    else:
        left = bool(drives_left)
    return f"In this location, people drive on the {'left' if left else 'right'} side of the road."


def direction_clause(heading_deg: Any) -> str | None:
    """Compass direction of the view (nearest of north/east/south/west)."""
    try:
        h = float(heading_deg)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(h):
        return None
    return f"This photo is facing {COMPASS[int(np.floor(((h % 360.0) + 45.0) / 90.0)) % 4]}."


def month_clause(month: Any) -> str | None:
    try:
        m = int(float(month))
    except (TypeError, ValueError):
        return None
    if not 1 <= m <= 12:
        return None
    return f"This photo was taken in {MONTHS[m - 1]}."


def caption_clauses(meta: Mapping[str, Any], *, heading: Any = None) -> dict[str, str]:
    """Every auxiliary clause the metadata supports: ``{name: sentence}`` for
    ``climate`` (``climate``), ``driving`` (``drives_left``), ``direction`` (``heading``) and
    ``month`` (``month``)."""
    found = {
        "climate": climate_clause(meta.get("climate")),
        "driving": driving_clause(meta.get("drives_left")),
        "direction": direction_clause(heading if heading is not None else meta.get("heading")),
        "month": month_clause(meta.get("month")),
    }
    return {k: v for k, v in found.items() if v}


def location_caption(meta: Mapping[str, Any], rng: np.random.Generator, *, style: str = "streetview",
                     heading: Any = None, probabilities: Mapping[str, float] | None = None) -> str:
    """One caption: the base sentence plus each available clause with its probability
    (:data:`CLAUSE_PROBABILITIES`), in the order climate, driving side, direction, month.

    ``meta`` keys: ``town``, ``admin1`` (or ``region``), ``country``, ``climate``,
    ``drives_left``, ``heading``, ``month``.
    """
    probs = CLAUSE_PROBABILITIES[style] if probabilities is None else probabilities
    region = meta.get("admin1") if _text(meta.get("admin1")) else meta.get("region")
    text = base_caption(meta.get("town"), region, meta.get("country"), style=style)
    clauses = caption_clauses(meta, heading=heading)
    draws = rng.random(len(CLAUSE_ORDER))
    for name, u in zip(CLAUSE_ORDER, draws, strict=True):
        if name in clauses and u < probs.get(name, 0.0):
            text += " " + clauses[name]
    return text


def location_captions(meta: Mapping[str, Any], k: int, *, seed: int = 0, index: int = 0,
                      style: str = "streetview", heading: Any = None) -> list[str]:
    """``k`` captions of one location (DreamLIP's sub-captions), reproducible from
    ``(seed, index)`` (each draws its own clauses)."""
    rng = np.random.default_rng([int(seed), int(index)])
    return [location_caption(meta, rng, style=style, heading=heading) for _ in range(int(k))]


__all__ = ["CLAUSE_ORDER", "CLAUSE_PROBABILITIES", "CLIMATE_NAMES", "base_caption", "caption_clauses",
           "climate_clause", "direction_clause", "driving_clause", "location_caption", "location_captions",
           "month_clause"]
