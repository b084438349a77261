"""Best vector per segment: the arithmetic core of refinement, batched, two backends.

A *segment* is a contiguous row range ``[start, start + length)`` of a vector table, paired
with one query. :func:`segment_best` returns, for every segment, the row whose vector is
nearest to the segment's query and its score. Refinement calls it twice: top-K cells x their
prototypes, then winning clusters x their members.

Scores (larger = nearer):
* ``"l2"``: ``-||q - v||`` (PIGEON's negative Euclidean distance);
* ``"ip"``: ``q . v`` (cosine similarity when both are L2-normalised).

Backends:
* ``"torch"``: gathers the segments' rows into flat chunks and reduces with
  ``scatter_reduce``; runs on CPU or CUDA (GPU path).
* ``"faiss"``: an ``IndexIVFFlat`` whose inverted lists ARE the segments' tables (list s =
  the prototypes of cell s, or the members of cluster s), searched with
  ``search_preassigned`` (nprobe = 1 list per query row, k = 1): exact, multi-threaded C++,
  nothing gathered. :class:`PartitionedIndex` builds it once.

Ties go to the smallest row in both backends for exactly-equal scores; the backends agree
whenever the best score is unique up to float rounding (tests check equality).
"""

from __future__ import annotations

import numpy as np
import torch

METRICS = ("l2", "ip")
_CHUNK_ELEMENTS = 1 << 22  # rows x dim floats gathered at once (16 MiB in float32)


def _scores(q: torch.Tensor, v: torch.Tensor, metric: str) -> torch.Tensor:
    """Row-wise scores of q [T, D] against v [T, D] -> [T] (float32 accumulation)."""
    if metric == "ip":
        return (q * v).sum(dim=1)
    return -torch.linalg.vector_norm(q - v, dim=1)


def segment_best_torch(queries: torch.Tensor, table: torch.Tensor, seg_query: torch.Tensor,
                       seg_start: torch.Tensor, seg_len: torch.Tensor, metric: str = "l2",
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Best row per segment (torch backend).

    Args:
        queries: [B, D] float tensor.
        table: [R, D] vectors (float32 or float16; computed in the queries' dtype).
        seg_query: [S] int64 query row of each segment.
        seg_start, seg_len: [S] int64 first row and length of each segment in ``table``.
        metric: ``"l2"`` or ``"ip"``.

    Returns:
        (score [S] float, row [S] int64); empty segments get score -inf and row -1.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    dev = queries.device
    s = seg_query.shape[0]
    best = torch.full((s,), float("-inf"), device=dev, dtype=queries.dtype)
    best_row = torch.full((s,), -1, device=dev, dtype=torch.long)
    seg_len = seg_len.to(dev).long()
    total = int(seg_len.sum())
    if total == 0:
        return best, best_row
    seg_of = torch.repeat_interleave(torch.arange(s, device=dev), seg_len)  # [T]
    first = torch.cumsum(seg_len, 0) - seg_len
    rows = seg_start.to(dev).long()[seg_of] + (torch.arange(total, device=dev) - first[seg_of])
    qrow = seg_query.to(dev).long()[seg_of]
    step = max(1, _CHUNK_ELEMENTS // max(1, queries.shape[1]))
    scores = torch.empty(total, device=dev, dtype=queries.dtype)
    for a in range(0, total, step):  # chunks of rows (not of queries): bounded memory
        b = min(total, a + step)
        v = table.index_select(0, rows[a:b]).to(queries.dtype)
        scores[a:b] = _scores(queries.index_select(0, qrow[a:b]), v, metric)
    best.scatter_reduce_(0, seg_of, scores, reduce="amax")
    position = torch.arange(total, device=dev)
    is_best = scores == best[seg_of]
    first_best = torch.full((s,), total, device=dev, dtype=torch.long)
    first_best.scatter_reduce_(0, seg_of, torch.where(is_best, position, total), reduce="amin")
    found = first_best < total
    best_row[found] = rows[first_best[found]]
    return best, best_row


class PartitionedIndex:
    """Exact faiss search restricted to chosen partitions of a vector table.

    ``table`` [R, D] (float32, or float16 stored as fp16 codes) is split into consecutive partitions by ``offsets`` [L + 1]; partition l
    becomes inverted list l of an ``IndexIVFFlat`` (ids = table rows). ``best(queries, lists)``
    returns the nearest row of list ``lists[i]`` for every query row i.
    """

    def __init__(self, table: np.ndarray, offsets: np.ndarray, metric: str = "l2") -> None:
        import faiss

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric = metric
        r, d = table.shape
        n_lists = int(offsets.shape[0] - 1)
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        # The coarse quantizer is never used (lists are preassigned at add and search time), so
        # it stays empty; is_trained is set by hand. float16 tables are stored as fp16 codes
        # (IndexIVFScalarQuantizer, QT_fp16, no residual: lossless for fp16 input).
        quantizer = faiss.IndexFlat(d, faiss_metric)
        if table.dtype == np.float16:
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, max(n_lists, 1), faiss.ScalarQuantizer.QT_fp16,
                                                  faiss_metric, False)
        else:
            index = faiss.IndexIVFFlat(quantizer, d, max(n_lists, 1), faiss_metric)
        index.is_trained = True
        assign = np.repeat(np.arange(n_lists, dtype=np.int64), np.diff(offsets))
        step = max(1, _CHUNK_ELEMENTS // max(1, d))
        for a in range(0, r, step):  # chunks: no full float32 copy of the table
            b = min(r, a + step)
            x = np.ascontiguousarray(table[a:b], dtype=np.float32)
            ids = np.arange(a, b, dtype=np.int64)
            index.add_core(b - a, faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(assign[a:b]))
        self.index, self._quantizer, self.dim = index, quantizer, d

    def best(self, queries: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """queries [S, D], lists [S] (-1 = none) -> (score [S] float32, row [S] int64, -1 if empty)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        lists = np.asarray(lists, np.int64).reshape(-1, 1)
        score = np.full(q.shape[0], -np.inf, np.float32)
        row = np.full(q.shape[0], -1, np.int64)
        if q.shape[0] == 0:
            return score, row
        self.index.nprobe = 1
        dist, ids = self.index.search_preassigned(q, 1, lists, np.zeros(lists.shape, np.float32))
        dist, ids = dist[:, 0], ids[:, 0]
        found = ids >= 0
        row[found] = ids[found]
        score[found] = -np.sqrt(np.maximum(dist[found], 0.0)) if self.metric == "l2" else dist[found]
        return score, row
