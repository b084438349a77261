"""Captions: PIGEON's exact sentence forms, clause probabilities, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.train.captions import (
    base_caption,
    caption_clauses,
    direction_clause,
    location_caption,
    location_captions,
)

META = {"town": "Arles", "admin1": "Provence-Alpes-Côte-d'Azur", "country": "France", "climate": "Cs",
        "drives_left": False, "month": 7, "heading": 180.0}


def test_base_caption_exact():
    assert base_caption("Arles", "Provence-Alpes-Côte-d'Azur", "France") == (
        "A street view photo close to the town of Arles in the region of Provence-Alpes-Côte-d'Azur in France.")
    assert base_caption(None, "Hokkaido", "Japan", style="photo") == (
        "A photo I took in the region of Hokkaido in Japan.")
    assert base_caption("", float("nan"), "Chile") == "A street view photo in Chile."
    with pytest.raises(ValueError, match="style"):
        base_caption("a", "b", "c", style="tweet")


def test_clauses_exact():
    assert caption_clauses(META) == {
        "climate": "This location has a Mediterranean climate.",
        "driving": "In this location, people drive on the right side of the road.",
        "direction": "This photo is facing south.",
        "month": "This photo was taken in July.",
    }
    assert caption_clauses({"drives_left": True, "month": "12"}) == {
        "driving": "In this location, people drive on the left side of the road.",
        "month": "This photo was taken in December."}
    assert caption_clauses({"month": 13, "climate": None, "heading": float("nan")}) == {}
    assert [direction_clause(h) for h in (0, 44, 46, 134, 136, 224, 226, 314, 316, -90)] == [
        f"This photo is facing {d}." for d in ("north", "north", "east", "east", "south", "south", "west",
                                               "west", "north", "west")]


def test_probabilities_all_or_nothing():
    everything = location_caption(META, np.random.default_rng(0), probabilities={k: 1.0 for k in
                                                                                  ("climate", "driving", "direction",
                                                                                   "month")})
    assert everything == (base_caption("Arles", "Provence-Alpes-Côte-d'Azur", "France") + " " +
                          " ".join(caption_clauses(META).values()))
    nothing = location_caption(META, np.random.default_rng(0), probabilities={})
    assert nothing == base_caption("Arles", "Provence-Alpes-Côte-d'Azur", "France")


def test_clause_frequencies_and_reproducibility():
    rng = np.random.default_rng(1)
    caps = [location_caption(META, rng) for _ in range(4000)]
    freq = np.mean(["climate." in c for c in caps])
    assert abs(freq - 0.6) < 0.03            # streetview climate probability
    assert np.mean(["taken in" in c for c in caps]) == pytest.approx(0.3, abs=0.03)
    assert location_captions(META, 5, seed=3, index=7) == location_captions(META, 5, seed=3, index=7)
    assert location_captions(META, 5, seed=3, index=7) != location_captions(META, 5, seed=3, index=8)
    photo = [location_caption(META, rng, style="photo") for _ in range(500)]
    assert not any("facing" in c or "taken in" in c for c in photo)   # PIGEOTTO: climate + driving only
