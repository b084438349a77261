"""Baselines for the PIGEON ablation table: kNN retrieval and the majority cell.

* **kNN retrieval** (GeoCLIP / Img2Loc style): embed the query, find its nearest training
  embeddings and predict from their locations. ``aggregate="nearest"`` is the location of the
  single nearest neighbour (k = 1); ``"mean"`` the (optionally similarity-weighted) mean
  position on the sphere of the k neighbours; ``"vote"`` a geographic vote: every neighbour
  collects the weights of the neighbours within ``vote_km`` of it, the neighbour with the most
  support wins (ties: the one nearer in embedding space) and the prediction is the weighted
  spherical mean of its supporters. The mean is pulled to the middle of split votes (e.g. half
  the neighbours in Spain, half in Chile); the vote commits to the largest consistent group.
* **Majority cell**: always predict the centroid of the training set's most frequent geocell.

Everything is vectorised (no per-query Python loop). Coordinates are degrees, distances km.

```python
from geoloc.eval.baselines import KnnRetrieval, majority_cell_baseline
knn = KnnRetrieval(train_emb, train_lat, train_lon)          # [N, D], [N], [N]
lat, lon = knn.predict(query_emb, k=1)                        # GeoCLIP-style nearest neighbour
lat, lon = knn.predict(query_emb, k=16, aggregate="vote", vote_km=25)
lat, lon = majority_cell_baseline(train_cells, cell_centroids, n=len(query_emb))
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoloc.errors import GeolocError
from geoloc.geo.sphere import unit_vectors, vectors_to_latlon
from geoloc.geo.validate import check_coordinates

METRICS = ("l2", "cosine", "ip")
AGGREGATES = ("nearest", "mean", "vote")


def _as_matrix(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise GeolocError(f"{what} must be a 2-D [rows, dim] array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise GeolocError(f"{what} has non-finite values in {bad.size} row(s), first rows {bad[:10].tolist()}")
    return a


def _normalise(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(n > 0, n, 1.0)


def knn_search(query, train, k: int, *, metric: str = "l2", chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest training rows of every query (float64 arithmetic, chunked over queries).

    Args:
        query: [Q, D] embeddings; train: [N, D] embeddings.
        k: neighbours per query (1 <= k <= N).
        metric: ``l2`` (Euclidean distance, PIGEON's refinement metric), ``cosine`` (cosine
            similarity, CLIP retrieval) or ``ip`` (inner product).
        chunk: queries per block (memory is ``chunk * N`` float64).

    Returns:
        ``(score [Q, k], index [Q, k] int64)``, best first. ``score`` is the Euclidean distance
        for ``l2`` (ascending) and the similarity for ``cosine`` / ``ip`` (descending). Ties are
        broken by the lower training index.
    """
    if metric not in METRICS:
        raise GeolocError(f"metric must be one of {METRICS}, got {metric!r}")
    q = _as_matrix(query, "query embeddings")
    t = _as_matrix(train, "training embeddings")
    if q.shape[1] != t.shape[1]:
        raise GeolocError(f"query embeddings have dim {q.shape[1]}, training embeddings {t.shape[1]}")
    n = t.shape[0]
    if not 1 <= k <= n:
        raise GeolocError(f"k must be in [1, {n}] (training rows), got {k}")
    if metric == "cosine":
        q, t = _normalise(q), _normalise(t)
    t_sq = np.einsum("nd,nd->n", t, t)
    scores = np.empty((q.shape[0], k))
    index = np.empty((q.shape[0], k), dtype=np.int64)
    for s in range(0, q.shape[0], max(1, chunk)):
        qb = q[s:s + chunk]
        sim = qb @ t.T                                       # [b, N]
        # cost to minimise: squared distance (l2) or negative similarity
        cost = (t_sq[None, :] - 2.0 * sim) if metric == "l2" else -sim
        if k < n:
            cand = np.argpartition(cost, k - 1, axis=1)[:, :k]
            # widen to every row tied with the k-th cost so the lower-index tie-break is exact
            kth = np.take_along_axis(cost, cand, 1).max(axis=1, keepdims=True)
            if int((cost <= kth).sum(axis=1).max()) > k:
                cand = np.argsort(cost, axis=1, kind="stable")[:, :k]
        else:
            cand = np.broadcast_to(np.arange(n), cost.shape)
        c = np.take_along_axis(cost, cand, 1)
        order = np.lexsort((cand, c), axis=1)
        idx = np.take_along_axis(cand, order, 1)
        c = np.take_along_axis(c, order, 1)
        index[s:s + qb.shape[0]] = idx
        if metric == "l2":
            q_sq = np.einsum("bd,bd->b", qb, qb)[:, None]
            scores[s:s + qb.shape[0]] = np.sqrt(np.maximum(c + q_sq, 0.0))
        else:
            scores[s:s + qb.shape[0]] = -c
    return scores, index


def neighbour_weights(scores: np.ndarray, metric: str, temperature: float | None) -> np.ndarray:
    """Weights [Q, k] of the neighbours: uniform (``temperature=None``) or a softmax of the
    similarity / temperature (``-distance`` for ``l2``)."""
    if temperature is None:
        return np.ones_like(scores)
    if temperature <= 0:
        raise GeolocError(f"temperature must be > 0, got {temperature}")
    z = (-scores if metric == "l2" else scores) / temperature
    z = z - z.max(axis=1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=1, keepdims=True)


def _weighted_mean_latlon(vec: np.ndarray, w: np.ndarray, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean direction of unit vectors [Q, k, 3] with weights [Q, k]; rows whose mean
    vanishes (antipodal sets) take ``fallback`` [Q, 3]."""
    s = np.einsum("qk,qkc->qc", w, vec)
    bad = np.linalg.norm(s, axis=1) < 1e-9
    s[bad] = fallback[bad]
    return vectors_to_latlon(s)


def knn_aggregate(nb_lat, nb_lon, weights, *, aggregate: str = "mean",
                  vote_km: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """Predicted location from the locations of each query's neighbours.

    Args:
        nb_lat, nb_lon: [Q, k] degrees, neighbours best first.
        weights: [Q, k] non-negative neighbour weights.
        aggregate: ``nearest`` (column 0), ``mean`` (weighted spherical mean) or ``vote``
            (geographic vote, see the module docstring).
        vote_km: radius in km within which neighbours support each other (``vote``).

    Returns:
        ``(lat [Q], lon [Q])`` degrees.
    """
    if aggregate not in AGGREGATES:
        raise GeolocError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    la = np.asarray(nb_lat, dtype=np.float64)
    lo = np.asarray(nb_lon, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if aggregate == "nearest" or la.shape[1] == 1:
        return la[:, 0].copy(), lo[:, 0].copy()
    vec = unit_vectors(la, lo)                               # [Q, k, 3]
    if aggregate == "mean":
        return _weighted_mean_latlon(vec, w, vec[:, 0])
    if vote_km <= 0:
        raise GeolocError(f"vote_km must be > 0, got {vote_km}")
    from geoloc.geo.distance import EARTH_RADIUS_KM

    # angle between neighbours: within vote_km <=> cos(angle) >= cos(vote_km / R)
    cos_ij = np.einsum("qic,qjc->qij", vec, vec)
    near = cos_ij >= np.cos(min(vote_km / EARTH_RADIUS_KM, np.pi)) - 1e-12
    support = np.einsum("qij,qj->qi", near, w)                # [Q, k]
    # argmax takes the first maximum: the winner nearest in embedding space among ties
    win = np.argmax(support, axis=1)
    members = np.take_along_axis(near, win[:, None, None], 1)[:, 0]   # [Q, k]
    winner_vec = np.take_along_axis(vec, win[:, None, None], 1)[:, 0]
    return _weighted_mean_latlon(vec, w * members, winner_vec)


@dataclass
class KnnRetrieval:
    """kNN retrieval over training embeddings (GeoCLIP / Img2Loc style).

    Attributes:
        embeddings: [N, D] training embeddings.
        lat, lon: [N] their locations in degrees.
        metric: ``l2`` | ``cosine`` | ``ip`` (see :func:`knn_search`).
    """

    embeddings: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    metric: str = "l2"

    def __post_init__(self) -> None:
        self.embeddings = _as_matrix(self.embeddings, "training embeddings")
        self.lat, self.lon = check_coordinates(self.lat, self.lon, what="training coordinates")
        if self.lat.shape[0] != self.embeddings.shape[0]:
            raise GeolocError(f"{self.embeddings.shape[0]} training embeddings but {self.lat.shape[0]} locations")
        if self.metric not in METRICS:
            raise GeolocError(f"metric must be one of {METRICS}, got {self.metric!r}")

    def neighbours(self, query, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(score [Q, k], index [Q, k])`` of the k nearest training rows (:func:`knn_search`)."""
        return knn_search(query, self.embeddings, k, metric=self.metric)

    def predict(self, query, k: int = 1, *, aggregate: str | None = None, vote_km: float = 25.0,
                temperature: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``(lat [Q], lon [Q])`` in degrees for query embeddings [Q, D].

        ``aggregate`` defaults to ``nearest`` for k = 1 and ``vote`` otherwise; ``temperature``
        weights the neighbours by a softmax of their similarity (None: uniform).
        """
        agg = aggregate or ("nearest" if k == 1 else "vote")
        scores, idx = self.neighbours(query, k)
        w = neighbour_weights(scores, self.metric, temperature)
        return knn_aggregate(self.lat[idx], self.lon[idx], w, aggregate=agg, vote_km=vote_km)


def majority_cell(train_cells, num_cells: int | None = None) -> int:
    """Most frequent geocell id among the training labels (ties: the lowest id).

    Negative labels (unassigned) are ignored; raises GeolocError if none is left.
    """
    c = np.asarray(train_cells).reshape(-1).astype(np.int64)
    c = c[c >= 0]
    if c.size == 0:
        raise GeolocError("no training geocell labels (all missing or negative)")
    counts = np.bincount(c, minlength=num_cells or 0)
    return int(np.argmax(counts))


def majority_cell_baseline(train_cells, cell_centroids, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Predict the centroid of the most frequent training cell for all ``n`` queries.

    Args:
        train_cells: [N] training geocell ids.
        cell_centroids: [C, 2] (lat, lon) degrees of every cell.
        n: number of predictions.

    Returns:
        ``(lat [n], lon [n])`` degrees, all equal.
    """
    cent = np.asarray(cell_centroids, dtype=np.float64)
    if cent.ndim != 2 or cent.shape[1] != 2:
        raise GeolocError(f"cell_centroids must be [C, 2] (lat, lon), got shape {cent.shape}")
    c = majority_cell(train_cells, cent.shape[0])
    if c >= cent.shape[0]:
        raise GeolocError(f"training geocell id {c} is out of range for {cent.shape[0]} cell centroids")
    lat, lon = check_coordinates(cent[c:c + 1, 0], cent[c:c + 1, 1], what=f"centroid of geocell {c}")
    return np.full(n, lat[0]), np.full(n, lon[0])


__all__ = ["AGGREGATES", "METRICS", "KnnRetrieval", "knn_aggregate", "knn_search", "majority_cell",
           "majority_cell_baseline", "neighbour_weights"]
