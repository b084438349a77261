"""Choose the refinement temperature and the number of candidate cells on a validation split.

PIGEON's temperatures (T = 1.6 street view, 0.6 PIGEOTTO) were tuned for its embedding: the
mean of CLIP ViT-L/14 tokens before the final LayerNorm, whose Euclidean distances to the
prototypes have their own scale. Any other embedding (post-LayerNorm here, a CNN, another
tower) puts the prototype scores on another scale, so a fixed T can make refinement useless
or harmful. :func:`tune_refinement` grid-searches T (log-spaced) and top-K on held-out
validation locations (never in the prototypes) and keeps the pair with the best mean
GeoGuessr score, reporting acc@1/25 km with and without refinement; it then decides whether
hedging (:mod:`geoloc.refine.hedge`) raises the score further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geoloc.eval.metrics import THRESHOLDS_KM, accuracy_at_km
from geoloc.geo.distance import haversine_km
from geoloc.geo.score import geoguessr_score
from geoloc.refine.hedge import apply_hedge

TEMPERATURES: tuple[float, ...] = tuple(float(t) for t in np.geomspace(0.01, 10.0, 16))
"""Temperatures tried (log-spaced, 0.01 .. 10): scores are distances, so T is on their scale."""
TOP_KS: tuple[int, ...] = (1, 3, 5, 10, 20, 40)
"""Candidate-cell counts tried (1 = refine only within the top cell)."""


@dataclass
class RefinementTuning:
    """The chosen settings and the evidence.

    Attributes:
        temperature, top_k: the best pair (by mean GeoGuessr score on the validation split).
        hedge: whether moving a guess to the hedged centroid (:mod:`geoloc.refine.hedge`) scored more
            on the validation split (``hedged``: its metrics).
        n_validation: validation locations used.
        refined, unrefined: metrics (``acc@1km`` ... ``acc@2500km``, ``median_km``,
            ``geoguessr_score``) with the chosen settings and without refinement (top-1 centroid).
        grid: one row per tried pair: ``{"temperature", "top_k", "geoguessr_score", "median_km",
            "acc@1km", "acc@25km"}``.
    """

    temperature: float
    top_k: int
    n_validation: int
    refined: dict[str, float]
    unrefined: dict[str, float]
    hedge: bool = False
    hedged: dict[str, float] = field(default_factory=dict)
    grid: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_k": self.top_k, "n_validation": self.n_validation,
                "refined": self.refined, "unrefined": self.unrefined, "hedge": self.hedge, "hedged": self.hedged,
                "grid": self.grid}


def _metrics(lat: np.ndarray, lon: np.ndarray, true_lat: np.ndarray, true_lon: np.ndarray) -> dict[str, float]:
    e = np.asarray(haversine_km(lat, lon, true_lat, true_lon), dtype=np.float64)
    return {**accuracy_at_km(e, THRESHOLDS_KM), "median_km": float(np.median(e)),
            "geoguessr_score": float(np.mean(geoguessr_score(e)))}


def tune_refinement(refiner, embeddings: np.ndarray, cell_probs: np.ndarray, true_lat: np.ndarray,
                    true_lon: np.ndarray, *, temperatures: tuple[float, ...] = TEMPERATURES,
                    top_ks: tuple[int, ...] = TOP_KS) -> RefinementTuning:
    """Grid-search ``refiner``'s temperature and top-K on validation locations.

    Args:
        refiner: a :class:`geoloc.refine.Refiner` over prototypes that do NOT contain the validation
            locations (its ``temperature`` / ``top_k`` are set to the chosen pair on return).
        embeddings: [N, D] validation embeddings; cell_probs: [N, C] their cell probabilities.
        true_lat, true_lon: [N] true locations in degrees.
    """
    true_lat = np.asarray(true_lat, np.float64)
    true_lon = np.asarray(true_lon, np.float64)
    if len(true_lat) == 0:
        raise ValueError("tune_refinement needs at least one validation location")
    top1 = np.asarray(cell_probs).argmax(1)
    unrefined = _metrics(refiner.cell_centroids[top1, 0], refiner.cell_centroids[top1, 1], true_lat, true_lon)
    grid: list[dict[str, float]] = []
    best: tuple[float, float, int] | None = None
    for k in sorted({min(int(k), refiner.p.num_cells) for k in top_ks}):
        for t in temperatures:
            refiner.top_k, refiner.temperature = k, float(t)
            res = refiner.refine(embeddings, cell_probs)
            m = _metrics(res.lat, res.lon, true_lat, true_lon)
            grid.append({"temperature": float(t), "top_k": k, "geoguessr_score": m["geoguessr_score"],
                         "median_km": m["median_km"], "acc@1km": m["acc@1km"], "acc@25km": m["acc@25km"]})
            if best is None or m["geoguessr_score"] > best[0]:
                best = (m["geoguessr_score"], float(t), k)
    assert best is not None
    refiner.temperature, refiner.top_k = best[1], best[2]
    res = refiner.refine(embeddings, cell_probs)
    refined = _metrics(res.lat, res.lon, true_lat, true_lon)
    h_lat, h_lon, _ = apply_hedge(res.lat, res.lon, res.cell, cell_probs, refiner.cell_centroids)
    hedged = _metrics(h_lat, h_lon, true_lat, true_lon)
    return RefinementTuning(temperature=best[1], top_k=best[2], n_validation=len(true_lat), refined=refined,
                            unrefined=unrefined, hedge=hedged["geoguessr_score"] > refined["geoguessr_score"],
                            hedged=hedged, grid=grid)


__all__ = ["TEMPERATURES", "TOP_KS", "RefinementTuning", "tune_refinement"]
