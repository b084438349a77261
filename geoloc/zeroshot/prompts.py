"""Text prompts for zero-shot geolocation: an ensemble of sentences per geocell, admin-1 unit and country.

Templates are ``str.format`` patterns over four fields: ``{country}`` (country name),
``{admin1}`` (admin-1 name), ``{town}`` (the gazetteer place nearest the cell's centroid) and
``{cell}`` (the geocell's name). A template is used for a class only when every field it names is
non-empty, so a cell without an admin-1 unit or without a nearby town still gets the templates it
can fill; duplicates are removed (keeping the first). A cell that fills none of its templates gets
:data:`FALLBACK_TEMPLATES` (its country, else its name).

The default cell templates follow PIGEON's pretraining captions ("A Street View photo close to the
town of T in the region of R in C.", PIGEON.md §1.3) and PIGEOTTO's ("A photo I took close to
the town of ..."), plus short CLIP-style variants. Every prompt ends with a full stop.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

CELL_TEMPLATES: tuple[str, ...] = (
    "A street view photo close to the town of {town} in the region of {admin1} in {country}.",
    "A street view photo in the region of {admin1} in {country}.",
    "A street view photo in {admin1}, {country}.",
    "A photo I took close to the town of {town} in the region of {admin1} in {country}.",
    "A photo taken in {cell}, {country}.",
)
"""Default prompt ensemble of a geocell."""

COUNTRY_TEMPLATES: tuple[str, ...] = (
    "A street view photo in {country}.",
    "A photo I took in {country}.",
    "A photo taken in {country}.",
)
"""Default prompt ensemble of a country."""

ADMIN1_TEMPLATES: tuple[str, ...] = (
    "A street view photo in the region of {admin1} in {country}.",
    "A photo I took in the region of {admin1} in {country}.",
    "A photo taken in {admin1}, {country}.",
)
"""Default prompt ensemble of an admin-1 unit (state, province, region)."""

FALLBACK_TEMPLATES: tuple[str, ...] = ("A street view photo in {country}.", "A street view photo of {cell}.",
                                       "A street view photo.")
"""Tried in order for a class that fills none of its templates (the last always fits)."""

FIELDS = ("country", "admin1", "town", "cell")
TOWN_MAX_KM = 50.0
"""A cell's ``{town}`` is the gazetteer place nearest its centroid if it lies within this many km."""


def template_fields(template: str) -> set[str]:
    """Field names used by a ``str.format`` template; raises ValueError for an unknown field."""
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = names - set(FIELDS)
    if unknown:
        raise ValueError(f"template {template!r} uses unknown field(s) {sorted(unknown)}; known: {list(FIELDS)}")
    return names


def fill_templates(values: dict[str, str], templates: Sequence[str]) -> list[str]:
    """The templates whose fields are all non-empty in ``values``, filled, without duplicates."""
    out: list[str] = []
    for t in templates:
        if all(values.get(f, "").strip() for f in template_fields(t)):
            text = t.format(**{f: values.get(f, "").strip() for f in FIELDS})
            if text not in out:
                out.append(text)
    if not out:
        for t in FALLBACK_TEMPLATES:
            if all(values.get(f, "").strip() for f in template_fields(t)):
                return [t.format(**{f: values.get(f, "").strip() for f in FIELDS})]
    return out


def cell_towns(geocells, max_km: float = TOWN_MAX_KM) -> list[str]:
    """Name of the gazetteer place nearest each cell's centroid ([C] strings; "" beyond ``max_km``
    or for a cell without a finite centroid)."""
    from geoloc.geo import nearest_place

    cen = np.asarray(geocells.centroids, dtype=np.float64)
    out = [""] * len(cen)
    ok = np.flatnonzero(np.isfinite(cen).all(axis=1))
    if ok.size == 0:
        return out
    df = nearest_place(cen[ok, 0], cen[ok, 1])
    for i, name, km in zip(ok, df["name"].astype(str), df["distance_km"].to_numpy(), strict=True):
        if km <= max_km:
            out[int(i)] = name
    return out


def cell_prompts(geocells, *, templates: Sequence[str] = CELL_TEMPLATES, towns: bool | Sequence[str] = True,
                 town_max_km: float = TOWN_MAX_KM) -> list[list[str]]:
    """Prompt ensemble of every geocell ([C] lists of sentences, in class order).

    Args:
        geocells: GeocellSet (columns ``name``, ``country_name``, ``admin1`` are used).
        templates: cell templates (fields: module docstring).
        towns: True: nearest gazetteer place within ``town_max_km`` of each centroid; False: no
            ``{town}`` (templates naming it are skipped); or a sequence of C names.
    """
    for t in templates:
        template_fields(t)
    f = geocells.frame
    n = len(f)
    if towns is True:
        town_names = cell_towns(geocells, town_max_km)
    elif towns is False:
        town_names = [""] * n
    else:
        town_names = [str(x) for x in towns]
        if len(town_names) != n:
            raise ValueError(f"towns has {len(town_names)} names for {n} geocells")
    countries = f["country_name"].astype(str).tolist()
    admin1 = f["admin1"].astype(str).tolist()
    names = f["name"].astype(str).tolist()
    return [fill_templates({"country": countries[i], "admin1": admin1[i], "town": town_names[i],
                            "cell": names[i]}, templates) for i in range(n)]


def country_prompts(names: Sequence[str], *, templates: Sequence[str] = COUNTRY_TEMPLATES) -> list[list[str]]:
    """Prompt ensemble of every country ([K] lists); ``names`` are country names (e.g. "France")."""
    for t in templates:
        if template_fields(t) - {"country"}:
            raise ValueError(f"country template {t!r} may only use {{country}}")
    return [fill_templates({"country": str(name)}, templates) for name in names]


def admin1_prompts(units: Sequence[tuple[str, str]], *,
                   templates: Sequence[str] = ADMIN1_TEMPLATES) -> list[list[str]]:
    """Prompt ensemble of every admin-1 unit ([A] lists); ``units`` are ``(admin-1 name, country name)``."""
    for t in templates:
        if template_fields(t) - {"admin1", "country"}:
            raise ValueError(f"admin-1 template {t!r} may only use {{admin1}} and {{country}}")
    return [fill_templates({"admin1": str(a), "country": str(c)}, templates) for a, c in units]


def flatten(prompts: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """All sentences in order and the class of each ([N] int64), for one batched encoding."""
    texts = [t for group in prompts for t in group]
    owner = np.repeat(np.arange(len(prompts), dtype=np.int64), [len(g) for g in prompts])
    return texts, owner


__all__ = ["ADMIN1_TEMPLATES", "CELL_TEMPLATES", "COUNTRY_TEMPLATES", "FALLBACK_TEMPLATES", "TOWN_MAX_KM",
           "admin1_prompts", "cell_prompts", "cell_towns", "country_prompts", "fill_templates", "flatten", "template_fields"]
