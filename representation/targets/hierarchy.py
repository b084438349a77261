"""SPACE-2 graded hierarchical targets (He et al., COLING 2022), for label paths.

A label path is a sequence of labels from the root level down, e.g.
``("Europe", "France", "Île-de-France", "cell_1834")`` for continent > country >
admin-1 > geocell. An item may also carry several paths (a set of paths, as SPACE-2's
semantic frames hold several acts / slots).

SPACE-2 (``space/utils/scores.py::hierarchical_set_score``) scores two frames by the mean
Jaccard similarity over the sets of nodes at each level, edges between consecutive levels
and longer paths. For an ``L``-level hierarchy that is the set of all contiguous n-grams
``path[s : s + n]`` for every start level ``s`` and length ``n`` (``L (L + 1) / 2`` sets:
for L = 4, 4 node sets, 3 edge sets and 3 path sets, as in the paper's 10 scores). Each
set type whose union is empty for both items (e.g. both lack that level, marked ``None``)
is left out of the mean. Two items without any labels score 0.

Properties: the score is 1 for identical items, symmetric, in [0, 1]; with one level
(one-hot labels) it is 1 for the same label and 0 otherwise (SupCon targets); sharing a
longer prefix gives a larger score.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from representation.registry import register

Path = Sequence[Hashable | None]
Item = Path | Sequence[Path]


def _is_multi(item: Any) -> bool:
    return len(item) > 0 and all(isinstance(p, list | tuple) for p in item)


def _paths(item: Item) -> list[tuple[Hashable | None, ...]]:
    if isinstance(item, str):
        raise TypeError(f"a label path must be a sequence of labels, got the string {item!r}")
    return [tuple(p) for p in item] if _is_multi(item) else [tuple(item)]


def _gram_sets(paths: list[tuple[Hashable | None, ...]], depth: int) -> list[set[tuple[Hashable, ...]]]:
    """The ``depth (depth + 1) / 2`` sets of contiguous n-grams, one set per (start, length)."""
    sets = []
    for n in range(1, depth + 1):
        for s in range(0, depth - n + 1):
            grams = set()
            for p in paths:
                g = p[s:s + n]
                if len(g) == n and all(x is not None for x in g):
                    grams.add(g)
            sets.append(grams)
    return sets


def hierarchy_jaccard_score(a: Item, b: Item) -> float:
    """SPACE-2 hierarchical set score of two items (one path or several paths each)."""
    pa, pb = _paths(a), _paths(b)
    depth = max(len(p) for p in pa + pb)
    score, count = 0.0, 0
    for sa, sb in zip(_gram_sets(pa, depth), _gram_sets(pb, depth), strict=True):
        union = len(sa | sb)
        if union:
            score += len(sa & sb) / union
            count += 1
    return score / count if count else 0.0


def _single_path_targets(pq: list[tuple], pk: list[tuple], depth: int, device, dtype) -> torch.Tensor:
    """Vectorised score for items with exactly one path each: every gram set is a singleton
    or empty, so each set's Jaccard is an equality test of integer-coded n-grams."""
    n, m = len(pq), len(pk)
    num = torch.zeros(n, m, dtype=dtype, device=device)
    den = torch.zeros(n, m, dtype=dtype, device=device)
    for length in range(1, depth + 1):
        for s in range(0, depth - length + 1):
            codes: dict[tuple, int] = {}

            def code(p: tuple, s: int = s, length: int = length, codes: dict = codes) -> int:
                g = p[s:s + length]
                if len(g) < length or any(x is None for x in g):
                    return -1
                return codes.setdefault(g, len(codes))

            cq = torch.tensor([code(p) for p in pq], device=device)
            ck = torch.tensor([code(p) for p in pk], device=device)
            hq, hk = (cq >= 0).unsqueeze(1), (ck >= 0).unsqueeze(0)
            num += ((cq.unsqueeze(1) == ck.unsqueeze(0)) & hq & hk).to(dtype)
            den += (hq | hk).to(dtype)
    return torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))


def hierarchy_jaccard_targets(paths_q: Sequence[Item], paths_k: Sequence[Item] | None = None, *,
                              device: torch.device | str | None = None,
                              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Graded targets [N, M] in [0, 1]: ``t_ij = hierarchy_jaccard_score(paths_q[i], paths_k[j])``.

    Args:
        paths_q: N items; each a label path (root first; ``None`` = level unknown) or a
            list of label paths.
        paths_k: M items (defaults to ``paths_q``).

    Feed to :func:`representation.losses.supcon.supcon_loss` (``targets=``), which
    removes the self pair and row-normalises; items of one-path-each are scored in a
    vectorised way, items with several paths by the per-pair set computation.
    """
    paths_k = paths_q if paths_k is None else paths_k
    items_q, items_k = [_paths(x) for x in paths_q], [_paths(x) for x in paths_k]
    if not items_q or not items_k:
        return torch.zeros(len(items_q), len(items_k), dtype=dtype, device=device)
    if all(len(x) == 1 for x in items_q + items_k):
        depth = max(len(x[0]) for x in items_q + items_k)
        return _single_path_targets([x[0] for x in items_q], [x[0] for x in items_k], depth, device, dtype)
    out = torch.tensor([[hierarchy_jaccard_score(a, b) for b in paths_k] for a in paths_q], dtype=dtype)
    return out.to(device)


@register("hierarchy_jaccard", kind="target")
class HierarchyJaccard:
    """Callable target builder: ``HierarchyJaccard()(paths_q, paths_k=None) -> [N, M]``."""

    citation = ("He et al., SPACE-2: Tree-Structured Semi-Supervised Contrastive Pre-training for "
                "Task-Oriented Dialog Understanding, COLING 2022")

    def __call__(self, paths_q: Sequence[Item], paths_k: Sequence[Item] | None = None, *,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                 ) -> torch.Tensor:
        return hierarchy_jaccard_targets(paths_q, paths_k, device=device, dtype=dtype)

    def get_config_dict(self) -> dict[str, Any]:
        return {}
