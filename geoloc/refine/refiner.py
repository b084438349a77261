"""Online part of PIGEON's retrieval refinement (PIGEON.md §1.5), batched.

For a batch of queries (fused embeddings [B, D]) and the classifier's cell probabilities
[B, C]:

1. top-K cells by probability;
2. in each of those cells, the best location cluster: highest score between the query and
   the cluster prototypes (``-||q - p||`` as PIGEON, or the inner product);
3. softmax over the K best scores with temperature T, times the K cell probabilities;
4. the winning cluster = argmax of that product;
5. the refined point = the location of the NEAREST member of the winning cluster by
   embedding (``within="nearest"``; the reference code takes the farthest, a bug), or the
   cluster's centroid (``within="centroid"``);
6. optional ``max_km``: if the refined point is more than ``max_km`` from the top-1 cell's
   centroid (the classifier's own guess), the top-1 cell is used instead, still refined
   within its best cluster (the reference's behaviour).

A top cell with no prototypes gets weight 0; when no top cell has both prototypes and a
non-zero probability, the result is the top-1 cell's centroid (``fallback`` = True), as it is
when ``max_km`` sends a query back to a top-1 cell without prototypes. No step loops over queries in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from geoloc.geo.distance import haversine_km
from geoloc.refine.prototypes import LocationPrototypes
from geoloc.refine.search import METRICS, PartitionedIndex, row_sq_norms, segment_best_torch

WITHIN = ("nearest", "centroid")
BACKENDS = ("auto", "torch", "faiss")


@dataclass(frozen=True)
class RefineResult:
    """Refinement of B queries (numpy arrays).

    Attributes:
        lat, lon: [B] refined location in degrees.
        cell: [B] int64 geocell of the chosen cluster (the top-1 cell for fallback rows).
        cluster: [B] int64 prototype/cluster row (-1 when none).
        member: [B] int64 member row in the prototypes' member table (-1 for the centroid / none).
        train_row: [B] int64 training-table row of that member (-1 when none).
        rank: [B] int64 rank (0 = top-1) of the chosen cell among the top-K.
        weight: [B] float64 normalised weight of the chosen cell, ``w_k p_k / sum_j w_j p_j``.
        fallback: [B] bool; True where no cluster was usable (top-1 cell centroid returned).
        capped: [B] bool; True where ``max_km`` replaced the winner by the top-1 cell.
    """

    lat: np.ndarray
    lon: np.ndarray
    cell: np.ndarray
    cluster: np.ndarray
    member: np.ndarray
    train_row: np.ndarray
    rank: np.ndarray
    weight: np.ndarray
    fallback: np.ndarray
    capped: np.ndarray


class Refiner:
    """Retrieval refinement over :class:`LocationPrototypes`.

    Args:
        prototypes: built by :func:`geoloc.refine.build_prototypes` (or loaded).
        cell_centroids: [C, 2] (lat, lon) degrees of the geocells (the classifier's guess for a
            cell, e.g. ``GeocellSet.centroids``); default: the prototypes' per-cell mean of
            training points.
        top_k: candidate cells K (PIGEON street view 5, PIGEOTTO 40).
        temperature: softmax temperature T (PIGEON street view 1.6, PIGEOTTO 0.6).
        within: ``"nearest"`` member (default) or ``"centroid"``.
        max_km: maximum refinement distance in km (street view 1000; None = no cap).
        metric: ``"l2"`` (PIGEON) or ``"ip"``; queries are L2-normalised when the prototypes were.
        backend: ``"torch"`` (CPU or CUDA), ``"faiss"`` (cell-partitioned IVF, exact, CPU) or
            ``"auto"`` (faiss on a CPU device, torch on CUDA: on CPU the faiss scan has far less
            per-query overhead; results are the same).
        device: torch device for the torch backend.
    """

    def __init__(self, prototypes: LocationPrototypes, *, cell_centroids: np.ndarray | None = None,
                 top_k: int = 5, temperature: float = 1.6, within: str = "nearest",
                 max_km: float | None = None, metric: str = "l2", backend: str = "auto",
                 device: str | torch.device = "cpu") -> None:
        if within not in WITHIN:
            raise ValueError(f"within must be one of {WITHIN}, got {within!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.device = torch.device(device)
        if backend == "auto":
            backend = "faiss" if self.device.type == "cpu" else "torch"
        self.p = prototypes
        self.top_k, self.temperature, self.within = int(top_k), float(temperature), within
        self.max_km, self.metric, self.backend = max_km, metric, backend
        self.normalize_queries = bool(prototypes.params.get("normalize", False))
        cents = prototypes.cell_centroids if cell_centroids is None else np.asarray(cell_centroids, np.float64)
        if cents.shape != (prototypes.num_cells, 2):
            raise ValueError(f"cell_centroids must be [{prototypes.num_cells}, 2], got {cents.shape}")
        self.cell_centroids = cents
        if backend == "torch":
            self._protos = torch.from_numpy(prototypes.embeddings).to(self.device)
            self._members = torch.from_numpy(prototypes.member_embeddings).to(self.device)
            self._proto_sq = row_sq_norms(self._protos) if metric == "l2" else None
            self._member_sq = row_sq_norms(self._members) if metric == "l2" else None
            self._cell_off = torch.from_numpy(prototypes.cell_offsets).to(self.device)
            self._mem_off = torch.from_numpy(prototypes.member_offsets).to(self.device)
        else:
            self._proto_index = PartitionedIndex(prototypes.embeddings, prototypes.cell_offsets, metric)
            self._member_index = PartitionedIndex(prototypes.member_embeddings, prototypes.member_offsets, metric)

    # -- the two searches -------------------------------------------------------------------
    def _best_cluster_per_cell(self, q: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q [B, D], cells [B, K] -> (best score [B, K], best cluster row [B, K] or -1)."""
        b, k = cells.shape
        if self.backend == "faiss":
            qi = np.repeat(q.cpu().numpy(), k, axis=0)
            score, row = self._proto_index.best(qi, cells.cpu().numpy().ravel())
            return torch.from_numpy(score).view(b, k), torch.from_numpy(row).view(b, k)
        flat = cells.reshape(-1).to(self.device)
        start = self._cell_off[flat]
        length = self._cell_off[flat + 1] - start
        seg_query = torch.arange(b, device=self.device).repeat_interleave(k)
        score, row = segment_best_torch(q, self._protos, seg_query, start, length, self.metric, self._proto_sq)
        return score.view(b, k), row.view(b, k)

    def _nearest_member(self, q: torch.Tensor, query_of: torch.Tensor, clusters: torch.Tensor) -> np.ndarray:
        """Nearest member row (numpy [S]) of cluster ``clusters[s]`` to query ``q[query_of[s]]`` (-1 if none)."""
        valid = clusters >= 0
        if self.backend == "faiss":
            _, row = self._member_index.best(q.cpu().numpy()[query_of.cpu().numpy()], clusters.cpu().numpy())
            return row
        safe = clusters.clamp_min(0).to(self.device)
        start = self._mem_off[safe]
        length = torch.where(valid.to(self.device), self._mem_off[safe + 1] - start, 0)
        _, row = segment_best_torch(q, self._members, query_of.to(self.device), start, length, self.metric,
                                    self._member_sq)
        return row.cpu().numpy()

    # -- public API ------------------------------------------------------------------------
    @torch.no_grad()
    def refine(self, embeddings, cell_probs) -> RefineResult:
        """Refine B queries.

        Args:
            embeddings: [B, D] query embeddings (numpy or torch), same space as the prototypes.
            cell_probs: [B, C] classifier probabilities over the C geocells (softmax of the logits).

        Always float32, also inside a caller's autocast region (bf16 distance products would change
        the nearest-member choice; see :mod:`geoloc.model.precision`).
        """
        with torch.autocast(device_type=self.device.type, enabled=False):
            return self._refine(embeddings, cell_probs)

    def _refine(self, embeddings, cell_probs) -> RefineResult:
        q = torch.as_tensor(embeddings, dtype=torch.float32).to(self.device)
        probs = torch.as_tensor(cell_probs, dtype=torch.float32).to(self.device)
        if q.dim() != 2 or q.shape[1] != self.p.dim:
            raise ValueError(f"embeddings must be [B, {self.p.dim}], got {tuple(q.shape)}")
        if probs.shape != (q.shape[0], self.p.num_cells):
            raise ValueError(f"cell_probs must be [{q.shape[0]}, {self.p.num_cells}], got {tuple(probs.shape)}")
        if self.normalize_queries:
            q = q / torch.linalg.vector_norm(q, dim=1, keepdim=True).clamp_min(1e-12)
        b = q.shape[0]
        k = min(self.top_k, self.p.num_cells)
        top_p, top_c = probs.topk(k, dim=1)  # [B, K]
        score, cluster = self._best_cluster_per_cell(q, top_c)
        score, cluster = score.to(self.device), cluster.to(self.device)
        has = cluster >= 0
        w = torch.softmax((score / self.temperature).masked_fill(~has, float("-inf")), dim=1)
        w = torch.nan_to_num(w, nan=0.0)  # rows with no prototype in any top cell
        combined = w * top_p
        rank = combined.argmax(dim=1)
        ar = torch.arange(b, device=self.device)
        fallback = ~(combined > 0).any(dim=1)  # no top cell with both prototypes and probability
        rank = torch.where(fallback, 0, rank)
        total = combined.sum(dim=1)
        weight = torch.where(total > 0, combined[ar, rank] / total.clamp_min(1e-30), 1.0)

        # refine within the winner and within the top-1 cell's best cluster (for the max_km cap)
        win_cluster = cluster[ar, rank]
        top1_cluster = cluster[:, 0]
        both = torch.cat([win_cluster, top1_cluster]) if self.max_km is not None else win_cluster
        lat, lon, member = self._locate(q, both)
        top_cell = top_c[:, 0].cpu().numpy()
        top_cent = self.cell_centroids[top_cell]
        capped = np.zeros(b, bool)
        if self.max_km is not None:
            ok = np.isfinite(lat[:b]) & np.isfinite(top_cent[:, 0])
            far = np.zeros(b, bool)
            far[ok] = haversine_km(lat[:b][ok], lon[:b][ok], top_cent[ok, 0], top_cent[ok, 1]) > self.max_km
            capped = far & ~fallback.cpu().numpy()
        pick = np.where(capped, np.arange(b) + b, np.arange(b))  # capped rows exist only with max_km
        lat_o, lon_o, member_o = lat[pick], lon[pick], member[pick]
        rank_np = np.where(capped, 0, rank.cpu().numpy())
        cluster_o = np.where(capped, top1_cluster.cpu().numpy(), win_cluster.cpu().numpy())
        fb = fallback.cpu().numpy() | (cluster_o < 0)
        lat_o = np.where(fb, top_cent[:, 0], lat_o)
        lon_o = np.where(fb, top_cent[:, 1], lon_o)
        cluster_o = np.where(fb, -1, cluster_o)
        member_o = np.where(fb, -1, member_o)
        weight_np = np.where(capped, (combined[:, 0] / total.clamp_min(1e-30)).cpu().numpy(),
                             weight.cpu().numpy()).astype(np.float64)
        return RefineResult(
            lat=lat_o, lon=lon_o,
            cell=np.where(cluster_o >= 0, self.p.cell[np.maximum(cluster_o, 0)], top_cell).astype(np.int64),
            cluster=cluster_o.astype(np.int64), member=member_o.astype(np.int64),
            train_row=np.where(member_o >= 0, self.p.member_rows[np.maximum(member_o, 0)], -1).astype(np.int64),
            rank=rank_np.astype(np.int64), weight=weight_np, fallback=fb, capped=capped,
        )

    def _locate(self, q: torch.Tensor, clusters: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Location of cluster ``clusters[s]`` for query ``s mod B``: nearest member or centroid."""
        b = q.shape[0]
        cl = clusters.cpu().numpy()
        safe = np.maximum(cl, 0)
        if self.within == "centroid":
            ll = self.p.centroid[safe]
            member = np.full(cl.shape, -1, np.int64)
        else:
            query_of = torch.arange(clusters.shape[0], device=clusters.device) % b
            member = self._nearest_member(q, query_of, clusters)
            ll = self.p.member_coords[np.maximum(member, 0)]
        lat = np.where(cl >= 0, ll[:, 0], np.nan)
        lon = np.where(cl >= 0, ll[:, 1], np.nan)
        return lat, lon, member
