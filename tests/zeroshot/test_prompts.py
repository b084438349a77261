"""Prompt ensembles: exact sentences, field skipping, fallbacks, towns from the gazetteer."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.zeroshot.prompts import (
    CELL_TEMPLATES,
    cell_prompts,
    cell_towns,
    country_prompts,
    fill_templates,
    flatten,
    template_fields,
)


def test_cell_prompts_exact(toy_cells):
    towns = ["Paris", "", "Shinjuku", "", "", "", "", "", ""]
    p = cell_prompts(toy_cells, towns=towns)
    assert len(p) == len(toy_cells)
    assert p[0] == [
        "A street view photo close to the town of Paris in the region of Ile-de-France in France.",
        "A street view photo in the region of Ile-de-France in France.",
        "A street view photo in Ile-de-France, France.",
        "A photo I took close to the town of Paris in the region of Ile-de-France in France.",
        "A photo taken in Ile-de-France, France.",
    ]
    # no town: the two town templates are skipped
    assert p[1] == [
        "A street view photo in the region of Provence in France.",
        "A street view photo in Provence, France.",
        "A photo taken in Provence, France.",
    ]
    assert p[2][0] == "A street view photo close to the town of Shinjuku in the region of Tokyo in Japan."
    # no country and no admin-1: only the fallback naming the cell
    assert p[8] == ["A street view photo of Open sea 1."]


def test_country_prompts_exact():
    assert country_prompts(["France", "Japan"]) == [
        ["A street view photo in France.", "A photo I took in France.", "A photo taken in France."],
        ["A street view photo in Japan.", "A photo I took in Japan.", "A photo taken in Japan."],
    ]
    with pytest.raises(ValueError, match="only use"):
        country_prompts(["France"], templates=["A photo in {admin1}, {country}."])


def test_fill_templates_dedup_and_fallbacks():
    t = ["In {admin1}.", "In {cell}.", "In {country}."]
    # admin1 == cell name gives the same sentence twice: kept once, order preserved
    assert fill_templates({"admin1": "Bahia", "cell": "Bahia", "country": "Brazil"},
                          ["{cell}, {country}.", "{admin1}, {country}.", *t]) == [
        "Bahia, Brazil.", "In Bahia.", "In Brazil."]
    assert fill_templates({"country": "Kenya"}, ["In {admin1}."]) == ["A street view photo in Kenya."]
    assert fill_templates({}, ["In {admin1}."]) == ["A street view photo."]
    assert fill_templates({"country": "  Kenya "}, ["In {country}."]) == ["In Kenya."]


def test_unknown_template_field_is_refused(toy_cells):
    assert template_fields(CELL_TEMPLATES[0]) == {"town", "admin1", "country"}
    with pytest.raises(ValueError, match="unknown field"):
        cell_prompts(toy_cells, templates=["A photo in {province}."], towns=False)
    with pytest.raises(ValueError, match="9 geocells"):
        cell_prompts(toy_cells, towns=["a", "b"])


def test_cell_towns_match_the_gazetteer(toy_cells):
    from geoloc.geo import nearest_place

    cen = toy_cells.centroids
    ref = nearest_place(cen[:, 0], cen[:, 1])
    towns = cell_towns(toy_cells, max_km=50.0)
    for name, row in zip(towns, ref.itertuples(index=False), strict=True):
        assert name == (row.name if row.distance_km <= 50.0 else "")
    assert towns[0] != ""  # central Paris has a gazetteer place within 50 km
    assert cell_towns(toy_cells, max_km=-1.0) == [""] * len(toy_cells)
    # cell_prompts(towns=True) uses exactly these names
    assert cell_prompts(toy_cells, towns=True) == cell_prompts(toy_cells, towns=towns)


def test_flatten_owner():
    texts, owner = flatten([["a", "b"], ["c"], ["d", "e", "f"]])
    assert texts == ["a", "b", "c", "d", "e", "f"]
    np.testing.assert_array_equal(owner, [0, 0, 1, 2, 2, 2])
