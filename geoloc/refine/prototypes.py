"""Offline part of PIGEON's retrieval refinement: location clusters and their prototypes.

Per geocell, OPTICS (scikit-learn) on the haversine distances (km) between the cell's
training points gives location clusters (PIGEON.md §1.5). A cluster's prototype is the mean
embedding of its members. Everything a query needs is stored contiguously: prototypes are
sorted by cell (``cell_offsets`` slices them), members by cluster (``member_offsets``), so a
query touches only its top cells' prototypes and its winning cluster's members.

Choices (documented in docs/pigeon.md):

* ``noise="drop"`` (PIGEON) drops OPTICS noise points; ``noise="singleton"`` keeps each as a
  one-member cluster. If OPTICS marks every point of a cell as noise, the cell becomes one
  cluster (otherwise it could never be refined; the reference code leaves it empty).
* Cells with fewer than ``min_samples`` points form one cluster (as the reference).
* Cells with more than ``max_precomputed`` points run OPTICS with sklearn's ball-tree
  ``haversine`` metric instead of an n x n precomputed matrix. The ordering and the xi
  extraction only use ratios of reachability distances, so radians vs km gives the same
  clusters; the ball tree keeps memory O(n).
* ``normalize=True`` L2-normalises member embeddings and prototypes (for cosine scoring).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from geoloc.geo.distance import pairwise_haversine_km
from geoloc.geo.validate import check_coordinates

PIGEON_STREETVIEW = {"min_samples": 3, "xi": 0.15}
PIGEOTTO = {"min_samples": 100, "xi": 0.1}
NOISE_POLICIES = ("drop", "singleton")


@dataclass(frozen=True)
class LocationPrototypes:
    """Location clusters of every geocell (P clusters, M stored members, C cells, D dims).

    Attributes:
        embeddings: [P, D] float32 prototype vectors (mean member embedding).
        cell: [P] int64 geocell of each cluster, non-decreasing.
        centroid: [P, 2] float64 (lat, lon) degrees, spherical mean of the members.
        cell_offsets: [C + 1] int64; clusters of cell c are rows ``cell_offsets[c]:cell_offsets[c+1]``.
        member_offsets: [P + 1] int64; members of cluster p are ``member_offsets[p]:member_offsets[p+1]``.
        member_coords: [M, 2] float64 (lat, lon) degrees of the members.
        member_embeddings: [M, D] float32 (or float16) member embeddings.
        member_rows: [M] int64 row of each member in the training table.
        cell_centroids: [C, 2] float64 spherical mean of each cell's training points (NaN if none).
        params: build parameters and counts (JSON-serialisable).
    """

    embeddings: np.ndarray
    cell: np.ndarray
    centroid: np.ndarray
    cell_offsets: np.ndarray
    member_offsets: np.ndarray
    member_coords: np.ndarray
    member_embeddings: np.ndarray
    member_rows: np.ndarray
    cell_centroids: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_prototypes(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def num_cells(self) -> int:
        return int(self.cell_offsets.shape[0] - 1)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def sizes(self) -> np.ndarray:
        """[P] members per cluster."""
        return np.diff(self.member_offsets)

    def validate(self) -> None:
        """Raise ValueError if the arrays are inconsistent (shapes, offsets, ordering)."""
        p, m, c = self.num_prototypes, self.member_rows.shape[0], self.num_cells
        checks = [
            (self.embeddings.ndim == 2, "embeddings must be [P, D]"),
            (self.cell.shape == (p,), "cell must be [P]"),
            (self.centroid.shape == (p, 2), "centroid must be [P, 2]"),
            (self.member_offsets.shape == (p + 1,), "member_offsets must be [P + 1]"),
            (self.member_coords.shape == (m, 2), "member_coords must be [M, 2]"),
            (self.member_embeddings.shape == (m, self.dim), "member_embeddings must be [M, D]"),
            (self.cell_centroids.shape == (c, 2), "cell_centroids must be [C, 2]"),
            (c >= 0 and self.cell_offsets[0] == 0 and self.cell_offsets[-1] == p, "cell_offsets must span 0..P"),
            (self.member_offsets[0] == 0 and self.member_offsets[-1] == m, "member_offsets must span 0..M"),
            (bool(np.all(np.diff(self.cell_offsets) >= 0)), "cell_offsets must be non-decreasing"),
            (bool(np.all(np.diff(self.member_offsets) > 0)), "every cluster needs a member"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"inconsistent prototypes: {msg}")
        expected_cell = np.repeat(np.arange(c), np.diff(self.cell_offsets))
        if not np.array_equal(expected_cell, self.cell):
            raise ValueError("inconsistent prototypes: cell does not match cell_offsets")


def spherical_mean(lat: np.ndarray, lon: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean direction on the sphere of consecutive segments.

    Args:
        lat, lon: [N] degrees, grouped so segment s is ``offsets[s]:offsets[s+1]``.
        offsets: [S + 1] non-decreasing, ``offsets[0] = 0``, ``offsets[-1] = N``.

    Returns:
        [S, 2] (lat, lon) degrees; NaN for empty segments (and for antipodal sets whose
        mean vector vanishes).
    """
    from geoloc.geo.sphere import grouped_spherical_mean

    labels = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    mlat, mlon, _ = grouped_spherical_mean(lat, lon, labels, offsets.shape[0] - 1)
    return np.stack([mlat, mlon], 1)


def _segment_sum(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of rows of x [N, ...] over consecutive segments -> [S, ...] (zeros for empty ones)."""
    s = offsets.shape[0] - 1
    out = np.zeros((s, *x.shape[1:]), dtype=x.dtype)
    lengths = np.diff(offsets)
    nonempty = np.flatnonzero(lengths > 0)
    if nonempty.size:
        out[nonempty] = np.add.reduceat(x, offsets[nonempty], axis=0)
    return out


def optics_graph_dense(dist: np.ndarray, min_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OPTICS ordering, reachability and predecessor from a dense distance matrix [n, n].

    The same algorithm and tie-breaking as ``sklearn.cluster.compute_optics_graph`` with
    ``metric="precomputed"`` and ``max_eps=inf`` (core distance = distance to the
    ``min_samples``-th nearest point counting the point itself; next point = smallest
    reachability, smallest index on ties; values rounded as sklearn does), but each step is a
    few vectorised numpy operations instead of sklearn's per-point neighbour queries, which
    dominate for the many small cells of a geocell set (tests check the equality).

    Returns:
        ordering [n] int64, reachability [n] float64 (inf for seeds), predecessor [n] int64 (-1).
    """
    n = dist.shape[0]
    decimals = np.finfo(np.float64).precision
    k = min(min_samples, n) - 1
    core = np.around(np.partition(dist, k, axis=1)[:, k].astype(np.float64), decimals=decimals)
    reach = np.full(n, np.inf)
    pred = np.full(n, -1, np.int64)
    # work = reachability of unprocessed points with inf replaced by the largest finite float
    # (so argmin prefers the smallest index among unreachable ones); processed points are inf.
    big = np.finfo(np.float64).max
    work = np.full(n, big)
    processed = np.zeros(n, bool)
    ordering = np.empty(n, np.int64)
    for i in range(n):
        p = int(np.argmin(work))
        ordering[i] = p
        processed[p] = True
        work[p] = np.inf
        if not np.isfinite(core[p]):
            continue
        rd = np.around(np.maximum(dist[p], core[p]), decimals=decimals)
        improved = (rd < reach) & ~processed
        reach[improved] = rd[improved]
        pred[improved] = p
        work[improved] = rd[improved]
    return ordering, reach, pred


def optics_labels(lat: np.ndarray, lon: np.ndarray, *, min_samples: int, xi: float,
                  max_precomputed: int = 4096) -> np.ndarray:
    """OPTICS cluster labels [n] (-1 = noise) of one cell's points (degrees), xi extraction.

    n <= ``max_precomputed``: haversine km matrix -> :func:`optics_graph_dense` ->
    ``sklearn.cluster.cluster_optics_xi`` (identical to ``OPTICS(metric="precomputed")``).
    Larger cells: sklearn ``OPTICS`` with the ball-tree haversine metric (O(n) memory).
    """
    from sklearn.cluster import OPTICS, cluster_optics_xi  # here: loading a bundle must not import sklearn

    n = lat.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # duplicate points -> inf reachability ratios
        if n <= max_precomputed:
            d = pairwise_haversine_km(lat, lon, lat, lon, dtype=np.float64)
            np.fill_diagonal(d, 0.0)
            ordering, reach, pred = optics_graph_dense(d, min_samples)
            labels, _ = cluster_optics_xi(reachability=reach, predecessor=pred, ordering=ordering,
                                          min_samples=min_samples, xi=xi)
            return labels
        x = np.radians(np.c_[lat, lon])
        return OPTICS(min_samples=min_samples, xi=xi, metric="haversine", algorithm="ball_tree").fit(x).labels_


def _cell_cluster_labels(lat, lon, *, min_samples, xi, noise, max_precomputed) -> tuple[np.ndarray, int]:
    """Cluster index per point (0..k-1, -1 dropped) and the number of dropped noise points."""
    n = lat.shape[0]
    if n < max(min_samples, 2):
        return np.zeros(n, np.int64), 0
    labels = optics_labels(lat, lon, min_samples=min_samples, xi=xi, max_precomputed=max_precomputed)
    labels = labels.astype(np.int64)
    is_noise = labels < 0
    if is_noise.all():
        return np.zeros(n, np.int64), 0
    if noise == "singleton" and is_noise.any():
        labels[is_noise] = labels.max() + 1 + np.arange(int(is_noise.sum()))
        return labels, 0
    return labels, int(is_noise.sum())


def build_prototypes(
    cell_ids,
    lat,
    lon,
    embeddings,
    num_cells: int,
    *,
    min_samples: int = 3,
    xi: float = 0.15,
    noise: str = "drop",
    normalize: bool = False,
    max_precomputed: int = 4096,
    member_dtype=np.float32,
    progress: bool = True,
) -> LocationPrototypes:
    """Location-cluster prototypes of every geocell from training rows.

    Args:
        cell_ids: [N] geocell index of each training row in ``[0, num_cells)``.
        lat, lon: [N] training locations in degrees.
        embeddings: [N, D] training embeddings (the model's fused embedding).
        num_cells: C, number of geocells.
        min_samples, xi: OPTICS parameters; PIGEON street view (3, 0.15) (default),
            PIGEOTTO (100, 0.1) (:data:`PIGEOTTO`).
        noise: ``"drop"`` (PIGEON) or ``"singleton"``.
        normalize: L2-normalise member embeddings and prototypes.
        max_precomputed: largest cell that uses an n x n distance matrix.
        member_dtype: storage dtype of member embeddings (float16 halves the memory).
        progress: show a progress bar over cells.
    """
    if noise not in NOISE_POLICIES:
        raise ValueError(f"noise must be one of {NOISE_POLICIES}, got {noise!r}")
    lat, lon = check_coordinates(lat, lon, what="prototype training rows")
    cell_ids = np.asarray(cell_ids, dtype=np.int64).ravel()
    emb = np.asarray(embeddings, dtype=np.float32)
    n = lat.shape[0]
    if cell_ids.shape != (n,) or emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"need cell_ids [N], embeddings [N, D] for N={n}; got {cell_ids.shape}, {emb.shape}")
    bad = np.flatnonzero((cell_ids < 0) | (cell_ids >= num_cells))
    if bad.size:
        raise ValueError(f"cell ids outside [0, {num_cells}) at {bad.size} rows, first {bad[:10].tolist()}")
    if not np.isfinite(emb).all():
        rows = np.flatnonzero(~np.isfinite(emb).all(1))
        raise ValueError(f"non-finite embeddings at {rows.size} rows, first {rows[:10].tolist()}")
    if normalize:
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    order = np.argsort(cell_ids, kind="stable")
    row_offsets = np.zeros(num_cells + 1, np.int64)
    row_offsets[1:] = np.cumsum(np.bincount(cell_ids, minlength=num_cells))
    cell_centroids = spherical_mean(lat[order], lon[order], row_offsets)

    cluster_of_row = np.full(n, -1, np.int64)  # global cluster id, ascending with the cell
    next_id, dropped = 0, 0
    occupied = np.flatnonzero(np.diff(row_offsets) > 0)
    for c in tqdm(occupied, desc="OPTICS per geocell", unit="cell", disable=not progress):
        rows = order[row_offsets[c]: row_offsets[c + 1]]
        labels, n_dropped = _cell_cluster_labels(lat[rows], lon[rows], min_samples=min_samples, xi=xi,
                                                 noise=noise, max_precomputed=max_precomputed)
        kept = labels >= 0
        # renumber to 0..k-1 in order of first appearance-independent sorted label value
        uniq, local = np.unique(labels[kept], return_inverse=True)
        cluster_of_row[rows[kept]] = next_id + local
        next_id += uniq.size
        dropped += n_dropped

    kept_rows = np.flatnonzero(cluster_of_row >= 0)
    member_order = kept_rows[np.argsort(cluster_of_row[kept_rows], kind="stable")]
    member_cluster = cluster_of_row[member_order]
    n_protos = next_id
    member_offsets = np.zeros(n_protos + 1, np.int64)
    member_offsets[1:] = np.cumsum(np.bincount(member_cluster, minlength=n_protos))
    sizes = np.diff(member_offsets)

    member_emb = emb[member_order]
    protos = _segment_sum(member_emb.astype(np.float64), member_offsets) / sizes[:, None]
    protos = protos.astype(np.float32)
    if normalize:
        protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
    proto_cell = cell_ids[member_order[member_offsets[:-1]]] if n_protos else np.zeros(0, np.int64)
    cell_offsets = np.zeros(num_cells + 1, np.int64)
    cell_offsets[1:] = np.cumsum(np.bincount(proto_cell, minlength=num_cells))

    result = LocationPrototypes(
        embeddings=protos,
        cell=proto_cell.astype(np.int64),
        centroid=spherical_mean(lat[member_order], lon[member_order], member_offsets),
        cell_offsets=cell_offsets,
        member_offsets=member_offsets,
        member_coords=np.c_[lat[member_order], lon[member_order]],
        member_embeddings=np.ascontiguousarray(member_emb.astype(member_dtype)),
        member_rows=member_order.astype(np.int64),
        cell_centroids=cell_centroids,
        params={
            "min_samples": int(min_samples), "xi": float(xi), "noise": noise, "normalize": bool(normalize),
            "max_precomputed": int(max_precomputed), "n_rows": int(n), "n_noise_dropped": int(dropped),
            "n_prototypes": int(n_protos), "n_cells_with_prototypes": int((np.diff(cell_offsets) > 0).sum()),
        },
    )
    result.validate()
    return result
