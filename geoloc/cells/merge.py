"""Merge cells below ``min_size`` into neighbours, in PIGEON's order.

Works on a graph of admin units (nodes) and their adjacency (polygons within
``ADJACENCY_GAP_DEG`` degrees of each other, like PIGEON's 1.01x dilation). Cells are sets of
units; merging only unions sets and neighbour lists, so no polygon is touched until the end.

For the smallest cell below ``min_size`` (ties: lowest id), the candidates are, in order:

1. neighbours below ``min_size`` in the same admin-1;
2. any neighbour in the same admin-1;
3. neighbours below ``min_size`` elsewhere in the same country;
4. any neighbour in the same country;
5. cells of the same country intersecting the cell's polygon scaled 2.02x about its centroid
   (PIGEON's 2x dilation of the 1.01x-dilated shape).

The cell merges into the **largest** candidate (ties: lowest id), which keeps its name and
admin-1. With ``cross_country=True``, steps 4-5 are retried with any country before giving up.
A cell with no candidate stays as it is: it is *isolated* (e.g. an island); one without points
is dropped (no training point is lost, only empty land far from any cell).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import affinity

ADJACENCY_GAP_DEG = 0.02
"""Units closer than this (degrees) are neighbours: the boundary data is simplified at 0.02 degrees."""

DILATION = 2.02
"""Scale factor of the last-resort neighbour search (PIGEON: 1.01 x 2)."""


@dataclass
class MergeResult:
    """Cells after merging: ``members[c]`` are unit ids; ``size[c]`` point counts."""

    members: list[list[int]]
    size: list[int]
    head: list[int]  # the unit whose attributes (country, admin-1, name) the cell keeps
    isolated: list[int] = field(default_factory=list)  # indices into members
    dropped_units: list[int] = field(default_factory=list)  # empty units attached to nothing
    merges: int = 0
    cross_country_merges: int = 0


def unit_adjacency(geoms: np.ndarray, gap_deg: float = ADJACENCY_GAP_DEG) -> list[set[int]]:
    """Neighbour sets [U] of units whose polygons lie within ``gap_deg`` degrees of each other."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="dwithin", distance=gap_deg)
    nbrs: list[set[int]] = [set() for _ in range(len(geoms))]
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        if a != b:
            nbrs[a].add(b)
            nbrs[b].add(a)
    return nbrs


def merge_small_cells(
    unit_size: np.ndarray,
    unit_country: np.ndarray,
    unit_adm1: np.ndarray,
    unit_geoms: np.ndarray,
    *,
    min_size: int,
    cross_country: bool = False,
    adjacency: list[set[int]] | None = None,
    tree: shapely.STRtree | None = None,
) -> MergeResult:
    """Merge units (one cell each to start) until every cell has ``>= min_size`` points or is isolated.

    Parameters are arrays [U] over units: point counts, country codes, admin-1 codes and
    polygons (lon/lat degrees). Deterministic.
    """
    n = len(unit_size)
    nbrs = [set(s) for s in (adjacency if adjacency is not None else unit_adjacency(unit_geoms))]
    tree = tree if tree is not None else shapely.STRtree(unit_geoms)
    size = [int(s) for s in unit_size]
    members: list[list[int]] = [[u] for u in range(n)]
    alive = [True] * n
    owner = list(range(n))  # unit -> cell id (cells keep the id of their first unit)
    country = [str(c) for c in unit_country]
    adm1 = [str(a) for a in unit_adm1]
    result = MergeResult(members=[], size=[], head=[])
    isolated: set[int] = set()
    heap = [(size[c], c) for c in range(n) if size[c] < min_size]
    heapq.heapify(heap)

    def pick(cands: set[int]) -> int | None:
        if not cands:
            return None
        return min(cands, key=lambda c: (-size[c], c))

    def dilated(c: int, same_country: bool) -> set[int]:
        geom = shapely.union_all(unit_geoms[members[c]])
        if geom.is_empty:
            return set()
        big = affinity.scale(geom, xfact=DILATION, yfact=DILATION, origin="centroid")
        hits = {owner[int(u)] for u in tree.query(big, predicate="intersects")}
        return {h for h in hits if alive[h] and h != c and (not same_country or country[h] == country[c])}

    while heap:
        s, c = heapq.heappop(heap)
        if not alive[c] or s != size[c] or size[c] >= min_size or c in isolated:
            continue
        same_c = {m for m in nbrs[c] if country[m] == country[c]}
        same_a = {m for m in same_c if adm1[m] == adm1[c]}
        target, crossed = None, False
        for step_no in range(7 if cross_country else 5):
            if step_no == 0:
                cands = {m for m in same_a if size[m] < min_size}
            elif step_no == 1:
                cands = same_a
            elif step_no == 2:
                cands = {m for m in same_c if size[m] < min_size}
            elif step_no == 3:
                cands = same_c
            elif step_no == 4:
                cands = dilated(c, True)
            elif step_no == 5:
                cands = nbrs[c]
            else:
                cands = dilated(c, False)
            target = pick(cands)
            if target is not None:
                crossed = step_no >= 5
                break
        if target is None:
            isolated.add(c)
            continue
        # merge c into target
        result.merges += 1
        result.cross_country_merges += int(crossed)
        size[target] += size[c]
        members[target].extend(members[c])
        for u in members[c]:
            owner[u] = target
        members[c] = []
        alive[c] = False
        for m in nbrs[c]:
            if m != target:
                nbrs[m].discard(c)
                nbrs[m].add(target)
                nbrs[target].add(m)
        nbrs[target].discard(c)
        nbrs[c] = set()
        isolated.discard(target)
        if size[target] < min_size:
            heapq.heappush(heap, (size[target], target))

    cells = [c for c in range(n) if alive[c]]
    for c in cells:
        if size[c] == 0:
            result.dropped_units.extend(members[c])
            continue
        if c in isolated:
            result.isolated.append(len(result.members))
        result.members.append(sorted(members[c]))
        result.size.append(size[c])
        result.head.append(c)
    return result
