"""Best vector per segment: the arithmetic core of refinement, batched, two backends.

A *segment* is a contiguous row range ``[start, start + length)`` of a vector table, paired
with one query. :func:`segment_best` returns, for every segment, the row whose vector is
nearest to the segment's query and its score. Refinement calls it twice: top-K cells x their
prototypes, then winning clusters x their members.

Scores (larger = nearer):
* ``"l2"``: ``-||q - v||`` (PIGEON's negative Euclidean distance);
* ``"ip"``: ``q . v`` (cosine similarity when both are L2-normalised).

Backends:
* ``"torch"``: gathers the segments' rows in padded chunks and scores them with a batched
  matrix product; runs on CPU or CUDA (GPU path).
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


def row_sq_norms(table: torch.Tensor) -> torch.Tensor:
    """Squared L2 norms [R] (float32) of the rows of ``table`` [R, D], computed in chunks."""
    out = torch.empty(table.shape[0], dtype=torch.float32, device=table.device)
    step = max(1, _CHUNK_ELEMENTS // max(1, table.shape[1]))
    for a in range(0, table.shape[0], step):
        x = table[a: a + step].float()
        out[a: a + step] = (x * x).sum(dim=1)
    return out


def segment_best_torch(queries: torch.Tensor, table: torch.Tensor, seg_query: torch.Tensor,
                       seg_start: torch.Tensor, seg_len: torch.Tensor, metric: str = "l2",
                       table_sq_norms: torch.Tensor | None = None,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Best row per segment (torch backend).

    Segments are sorted by length and processed in chunks; each chunk gathers its rows padded to
    the chunk's longest segment, [S_c, L_c, D], and scores them against its queries with one
    batched matrix product (no per-row copy of the queries). ``-||q - v||`` is evaluated as
    ``-sqrt(max(|q|^2 + |v|^2 - 2 q.v, 0))``.

    Args:
        queries: [B, D] float tensor.
        table: [R, D] vectors (float32 or float16; computed in float32).
        seg_query: [S] int64 query row of each segment.
        seg_start, seg_len: [S] int64 first row and length of each segment in ``table``.
        metric: ``"l2"`` or ``"ip"``.
        table_sq_norms: [R] precomputed ``row_sq_norms(table)`` (l2 only; computed if None).

    Returns:
        (score [S] float32, row [S] int64); empty segments get score -inf and row -1.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    dev = queries.device
    q = queries.float()
    s = seg_query.shape[0]
    best = torch.full((s,), float("-inf"), device=dev)
    best_row = torch.full((s,), -1, device=dev, dtype=torch.long)
    seg_len = seg_len.to(dev).long()
    seg_start = seg_start.to(dev).long()
    seg_query = seg_query.to(dev).long()
    if s == 0 or int(seg_len.max()) == 0:
        return best, best_row
    if metric == "l2" and table_sq_norms is None:
        table_sq_norms = row_sq_norms(table)
    order = torch.argsort(seg_len, descending=True)
    lengths = seg_len[order].cpu().numpy()
    n_nonempty = int((lengths > 0).sum())
    budget = max(1, _CHUNK_ELEMENTS // max(1, q.shape[1]))  # padded rows gathered per chunk
    a = 0
    while a < n_nonempty:  # chunks of segments (longest first), not a loop over queries
        width = int(lengths[a])
        b = min(n_nonempty, a + max(1, budget // width))
        seg = order[a:b]
        offs = torch.arange(width, device=dev)
        valid = offs[None, :] < seg_len[seg][:, None]  # [S_c, L_c]
        rows = torch.where(valid, seg_start[seg][:, None] + offs[None, :], 0)
        v = table[rows].float()  # [S_c, L_c, D]
        qs = q[seg_query[seg]]  # [S_c, D]
        dots = torch.bmm(v, qs.unsqueeze(2)).squeeze(2)  # [S_c, L_c]
        if metric == "ip":
            score = dots
        else:
            sq = (qs * qs).sum(dim=1, keepdim=True) + table_sq_norms[rows] - 2.0 * dots
            score = -torch.sqrt(sq.clamp_min(0.0))
        score = score.masked_fill(~valid, float("-inf"))
        top, arg = score.max(dim=1)  # first maximum on ties
        best[seg] = top
        best_row[seg] = rows.gather(1, arg.unsqueeze(1)).squeeze(1)
        a = b
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
