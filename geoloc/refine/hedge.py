"""Hedged guesses: the geocell centroid with the highest expected GeoGuessr score.

The arg-max cell is the single most probable cell, but when the probability is spread over a
region (Spain 30 %, Portugal 25 %, France 20 %...), a guess in the middle of that mass scores
more on average than a guess at its largest piece. PIGEON ships this idea for competitive play
(``layers/hedge.py`` in the reference code, off by default). :func:`hedged_cells` picks, among
the ``top_m`` most probable cells, the centroid ``x`` maximising

    E[score(x)] = sum_c p_c * 5000 * exp(-d(x, centroid_c) / 1492.7 km)

over the ``top_n`` most probable cells ``c`` (the GeoGuessr world-map score, PIGEON.md §1.6).
Batched, no Python loop over queries. The predictor uses it as a decision rule after refinement:
when the hedged cell differs from the refined guess's cell, the guess moves to the hedged
centroid (``Prediction.hedged``). Whether it helps is decided on the validation split
(:func:`geoloc.refine.tune.tune_refinement`), as it trades country accuracy of the point for
distance.
"""

from __future__ import annotations

import numpy as np

from geoloc.geo.score import PIGEON_SCORE_SCALE_KM


def apply_hedge(lat: np.ndarray, lon: np.ndarray, chosen_cell: np.ndarray, cell_probs: np.ndarray,
                centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move guesses [B] (degrees; ``chosen_cell`` = the cell each was taken in) to the hedged
    centroid where :func:`hedged_cells` picks another cell. Returns (lat, lon, moved [B] bool)."""
    h, _ = hedged_cells(cell_probs, centroids)
    moved = h != np.asarray(chosen_cell)
    cent = np.asarray(centroids, dtype=np.float64)
    return np.where(moved, cent[h, 0], lat), np.where(moved, cent[h, 1], lon), moved


def hedged_cells(cell_probs: np.ndarray, centroids: np.ndarray, *, top_m: int = 50,
                 top_n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Cell [B] whose centroid maximises the expected GeoGuessr score, and that score [B].

    Args:
        cell_probs: [B, C] cell probabilities (rows sum to 1).
        centroids: [C, 2] (lat, lon) degrees.
        top_m: candidate guesses: the ``top_m`` most probable cells' centroids.
        top_n: the distribution: the ``top_n`` most probable cells (the rest of the mass is ignored).
    """
    from geoloc.geo.distance import haversine_km

    p = np.asarray(cell_probs, dtype=np.float64)
    cent = np.asarray(centroids, dtype=np.float64)
    if p.ndim != 2 or cent.shape != (p.shape[1], 2):
        raise ValueError(f"cell_probs [B, C] and centroids [C, 2] expected, got {p.shape} and {cent.shape}")
    m, n = min(top_m, p.shape[1]), min(top_n, p.shape[1])
    cand = np.argsort(-p, axis=1, kind="stable")[:, :m]               # [B, M]
    mass = np.argsort(-p, axis=1, kind="stable")[:, :n]               # [B, N]
    pm = np.take_along_axis(p, mass, axis=1)                          # [B, N]
    d = haversine_km(cent[cand][:, :, None, 0], cent[cand][:, :, None, 1],
                     cent[mass][:, None, :, 0], cent[mass][:, None, :, 1])   # [B, M, N]
    expected = np.einsum("bmn,bn->bm", 5000.0 * np.exp(-np.asarray(d) / PIGEON_SCORE_SCALE_KM), pm)
    best = expected.argmax(axis=1)
    return cand[np.arange(p.shape[0]), best], expected[np.arange(p.shape[0]), best]


__all__ = ["apply_hedge", "hedged_cells"]
