"""Countries as games name them: lowercase ISO 3166-1 alpha-2 codes (GeoGuessr's ``countryCode`` /
``streakLocationCode``), from the shipped Natural Earth boundaries.

* :func:`country_codes` -- the country of points (``lookup_admin``'s ``iso_a2``), "" at sea.
* :func:`country_names` / :func:`country_choices` -- every code with an English name (CLDR via
  babel, else Natural Earth's), for pickers.
* :func:`rank_alpha2` -- a model's country probabilities (``Prediction.countries``, one entry per
  Natural Earth alpha-3 unit) summed per alpha-2 code, most probable first.

Why alpha-2 and not alpha-3: Natural Earth splits some countries into several alpha-3 units that
share one alpha-2 code (Australia and its Indian Ocean Territories are both ``au``; Cyprus, Northern
Cyprus and the two UK bases are all ``cy``). A game judges a pick by the alpha-2 code, as GeoGuessr's
country streaks do, so a model's probabilities are summed the same way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np

_ALPHA2 = re.compile(r"^[A-Za-z]{2}$")


def _alpha2(code: object) -> str:
    """Lowercase alpha-2 of ``code`` or "" (Natural Earth's "-99", "none", empty)."""
    text = str(code or "")
    return text.lower() if _ALPHA2.match(text) else ""


def country_codes(lat, lon, *, max_km: float = 25.0) -> np.ndarray:
    """Lowercase alpha-2 code of the country at each point (degrees, scalar or [N]); "" for points in
    no country (open sea beyond ``max_km`` of a coast). Invalid coordinates raise CoordinateError."""
    from geoloc.geo.boundaries import lookup_admin

    labels = lookup_admin(lat, lon, max_km=max_km)
    return np.asarray([_alpha2(c) for c in labels["iso_a2"]], dtype=object)


@functools.lru_cache(maxsize=1)
def _names() -> tuple[tuple[str, str], ...]:
    from babel import Locale

    from geoloc.geo.boundaries import _admin1_cached

    cldr = Locale("en").territories
    a1 = _admin1_cached()
    out: dict[str, str] = {}
    # Natural Earth's name of the unit whose alpha-3 starts with the alpha-2 (AUS for "au"), else the first.
    for a3, admin, iso in zip(a1["adm0_a3"].astype(str), a1["admin"].astype(str), a1["iso_a2"].astype(str),
                              strict=True):
        code = _alpha2(iso)
        if code and (code not in out or a3[:2].lower() == code):
            out[code] = admin
    return tuple(sorted(((c, cldr.get(c.upper(), ne)) for c, ne in out.items()), key=lambda t: t[0]))


def country_names() -> dict[str, str]:
    """Every country code of the shipped boundaries (lowercase alpha-2) -> its English name."""
    return dict(_names())


def country_choices() -> list[dict[str, str]]:
    """``[{"code", "name"}]`` for a picker, sorted by name."""
    return [{"code": c, "name": n} for c, n in sorted(_names(), key=lambda t: t[1])]


def rank_alpha2(regions: Iterable) -> list[tuple[str, float]]:
    """Sum region probabilities per lowercase alpha-2 code, most probable first.

    ``regions``: objects with ``iso`` (alpha-2, may be "") and ``probability`` -- e.g.
    ``Prediction.countries`` (ask ``predict(..., top_regions=None)`` for all of them). Entries without
    an alpha-2 code are dropped. Ties keep the order of first appearance.
    """
    total: dict[str, float] = {}
    for r in regions:
        code = _alpha2(getattr(r, "iso", ""))
        if code:
            total[code] = total.get(code, 0.0) + float(r.probability)
    return sorted(total.items(), key=lambda kv: -kv[1])


__all__ = ["country_choices", "country_codes", "country_names", "rank_alpha2"]
