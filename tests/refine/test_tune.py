"""Refinement tuning: the chosen pair is the grid's best mean GeoGuessr score, and the refiner keeps it."""

from __future__ import annotations

import numpy as np

from geoloc.geo.distance import haversine_km
from geoloc.geo.score import geoguessr_score
from geoloc.refine import Refiner, build_prototypes
from geoloc.refine.tune import tune_refinement


def _world(seed=0, n_cells=6, per_cell=40):
    g = np.random.default_rng(seed)
    centres = np.c_[g.uniform(-40, 60, n_cells), g.uniform(-150, 150, n_cells)]
    cell = np.repeat(np.arange(n_cells), per_cell)
    lat = centres[cell, 0] + g.normal(0, 2.0, cell.size)
    lon = centres[cell, 1] + g.normal(0, 2.0, cell.size)
    emb = np.c_[lat, lon, g.normal(0, 0.5, (cell.size, 6))].astype(np.float32) / 10.0
    return centres, cell, lat, lon, emb


def test_tuning_picks_the_grid_best_and_sets_the_refiner():
    centres, cell, lat, lon, emb = _world()
    train = np.arange(cell.size) % 5 != 0
    protos = build_prototypes(cell[train], lat[train], lon[train], emb[train], len(centres), min_samples=3, xi=0.15,
                              progress=False)
    refiner = Refiner(protos, cell_centroids=centres, top_k=5, temperature=1.6)
    g = np.random.default_rng(1)
    probs = np.full((int((~train).sum()), len(centres)), 0.02)
    probs[np.arange(probs.shape[0]), cell[~train]] += g.uniform(0.2, 0.9, probs.shape[0])
    probs /= probs.sum(1, keepdims=True)
    t = tune_refinement(refiner, emb[~train], probs, lat[~train], lon[~train], temperatures=(0.01, 0.1, 1.0, 10.0),
                        top_ks=(1, 3))
    assert len(t.grid) == 8 and (refiner.temperature, refiner.top_k) == (t.temperature, t.top_k)
    best = max(t.grid, key=lambda r: r["geoguessr_score"])
    assert (best["temperature"], best["top_k"]) == (t.temperature, t.top_k)
    # the reported refined score is recomputed independently
    res = refiner.refine(emb[~train], probs)
    e = haversine_km(res.lat, res.lon, lat[~train], lon[~train])
    assert t.refined["geoguessr_score"] == np.mean(geoguessr_score(e))
    top1 = probs.argmax(1)
    e0 = haversine_km(centres[top1, 0], centres[top1, 1], lat[~train], lon[~train])
    assert t.unrefined["acc@25km"] == np.mean(e0 <= 25.0)
    # retrieval inside the right cell beats its centroid on this world
    assert t.refined["geoguessr_score"] > t.unrefined["geoguessr_score"]
