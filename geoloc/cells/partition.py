"""Split a weighted point set into groups of ``min_size..max_size`` points (labels only).

This is the label half of PIGEON's cell split; the polygons follow the labels afterwards
(:mod:`geoloc.cells.split`). For a group above ``max_size``:

1. OPTICS passes (PIGEON's ``(min_samples, xi)`` list, tried in order) on a deterministic
   subsample of at most ``sample_size`` points (``min_samples`` scaled by the sampling fraction,
   at least 5; xi clusters of at least ``min_size`` points, scaled likewise); every point takes
   the label of its nearest sampled point. Clusters below ``min_size`` become noise. With two or more clusters the
   noise joins the nearest cluster centroid; with one cluster and at least ``min_size`` noise
   points the cluster is cut out of its surroundings ("doughnut" split). The first pass that
   splits wins.
2. Otherwise (no pass splits) a balanced median split: recursive bisection along the longer
   axis into ``ceil(W / max_size)`` groups of near-equal weight, which fit the bounds
   whenever ``max_size >= 2 * min_size - 1`` and no single location holds too many points.
3. Groups still above ``max_size`` are split again, until all fit.

Points are unique locations with integer weights (duplicate coordinates can never be
separated); a single location heavier than ``max_size`` is "unsplittable".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from geoloc.cells.optics import optics_xi_labels

OPTICS_PARAMS_PIGEON: tuple[tuple[int, float], ...] = ((8, 0.05), (10, 0.025), (15, 0.015))
"""PIGEON's OPTICS passes for GeoGuessr-scale cells (``OPTICS_PARAMS_GEOGUESSR``)."""

OPTICS_PARAMS_YFCC: tuple[tuple[int, float], ...] = ((300, 0.05), (400, 0.005), (1000, 0.0001))
"""PIGEOTTO's OPTICS passes for YFCC/MP-16-scale cells (``OPTICS_PARAMS_YFCC``)."""

OPTICS_PARAM_SETS: dict[str, tuple[tuple[int, float], ...]] = {"pigeon": OPTICS_PARAMS_PIGEON,
                                                               "yfcc": OPTICS_PARAMS_YFCC}
"""The named OPTICS parameter sets (``TrainPreset.cell_optics``, ``geoloc cells build --yfcc``)."""

DEFAULT_SAMPLE_SIZE = 1000
"""Points OPTICS sees per call; larger groups are subsampled (OPTICS here is O(n^2))."""

MIN_SAMPLES_FLOOR = 5
"""Smallest ``min_samples`` after scaling by the subsampling fraction."""


@dataclass
class PartitionStats:
    """Counters of one or more :func:`partition_points` calls."""

    optics_calls: int = 0
    optics_splits: int = 0
    median_splits: int = 0
    unsplittable: list[int] = field(default_factory=list)  # labels heavier than max_size

    def add(self, other: PartitionStats) -> None:
        self.optics_calls += other.optics_calls
        self.optics_splits += other.optics_splits
        self.median_splits += other.median_splits


def optics_split(
    xy: np.ndarray,
    w: np.ndarray,
    params: tuple[int, float],
    min_size: int,
    rng: np.random.Generator,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> np.ndarray | None:
    """One OPTICS pass: group labels [M] (0..K-1, K >= 2, each group >= ``min_size``) or None."""
    from scipy.spatial import cKDTree

    total = int(w.sum())
    if total <= sample_size:
        sample = np.repeat(np.arange(len(xy)), w)
    else:
        picks = np.sort(rng.choice(total, size=sample_size, replace=False))
        sample = np.searchsorted(np.cumsum(w), picks, side="right")
    frac = len(sample) / total
    min_samples, xi = params
    ms = max(min(int(min_samples), MIN_SAMPLES_FLOOR), round(min_samples * frac))
    # Leaf clusters must be able to weigh min_size: ask xi extraction for clusters of at least
    # min_size points (scaled to the sample) rather than min_samples points.
    min_cluster = max(2, math.ceil(min_size * frac))
    with np.errstate(divide="ignore", invalid="ignore"):  # zero reachability between duplicates
        s_labels = optics_xi_labels(xy[sample], ms, xi, min_cluster_size=min(min_cluster, len(sample)))
    if s_labels.max(initial=-1) < 0:
        return None
    _, nn = cKDTree(xy[sample]).query(xy, k=1)
    labels = s_labels[nn]
    weight = np.bincount(labels + 1, weights=w, minlength=s_labels.max() + 2)[1:]
    big = np.flatnonzero(weight >= min_size)
    noise = ~np.isin(labels, big)
    if big.size >= 2:
        if noise.any():
            labels[noise] = big[_nearest_centroid_from(xy, w, labels, noise, big)]
        return np.searchsorted(big, labels)
    if big.size == 1 and w[noise].sum() >= min_size:
        return (~noise).astype(np.int64)  # 1 = the cluster, 0 = its surroundings
    return None


def _nearest_centroid_from(xy, w, labels, noise, big) -> np.ndarray:
    """For noise rows: index into ``big`` of the nearest centroid of the non-noise clusters."""
    keep = ~noise
    lab = labels[keep]
    n_lab = int(lab.max()) + 1
    sw = np.bincount(lab, weights=w[keep], minlength=n_lab)[big]
    cent = np.stack(
        [np.bincount(lab, weights=w[keep] * xy[keep, d], minlength=n_lab)[big] for d in (0, 1)], axis=1
    )
    cent /= sw[:, None]
    q = xy[noise]
    out = np.empty(len(q), dtype=np.int64)
    step = max(1, 2_000_000 // max(1, len(big)))
    for s in range(0, len(q), step):
        d2 = ((q[s : s + step, None, :] - cent[None, :, :]) ** 2).sum(axis=2)
        out[s : s + step] = np.argmin(d2, axis=1)
    return out


def median_split(xy: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Labels [M] in ``0..k-1``: recursive bisection along the longer axis into ``k`` groups of
    near-equal total weight (each cut at the weighted quantile ``k1 / k``)."""
    labels = np.zeros(len(xy), dtype=np.int64)
    next_label = 0
    stack = [(np.arange(len(xy)), k)]
    while stack:
        idx, parts = stack.pop()
        if parts <= 1 or idx.size <= 1:
            labels[idx] = next_label
            next_label += 1
            continue
        span = xy[idx].max(axis=0) - xy[idx].min(axis=0)
        axis = int(span[1] > span[0])
        order = idx[np.lexsort((xy[idx, 1 - axis], xy[idx, axis]))]
        cum = np.cumsum(w[order])
        k1 = parts // 2
        target = cum[-1] * k1 / parts
        cut = int(np.clip(np.argmin(np.abs(cum[:-1] - target)) + 1, 1, idx.size - 1))
        stack.append((order[cut:], parts - k1))
        stack.append((order[:cut], k1))
    return labels


def partition_points(
    xy: np.ndarray,
    w: np.ndarray,
    *,
    min_size: int,
    max_size: int,
    optics_params: tuple[tuple[int, float], ...] = OPTICS_PARAMS_PIGEON,
    rng: np.random.Generator,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> tuple[np.ndarray, PartitionStats]:
    """Labels [M] (``0..K-1``) for unique locations ``xy`` [M, 2] with weights ``w`` [M] (ints >= 1).

    Every group weighs at most ``max_size`` unless it is one location (listed in
    ``stats.unsplittable``); OPTICS groups weigh at least ``min_size``; median-split groups
    weigh about ``W / ceil(W / max_size)``. Deterministic for a given ``rng`` state.
    """
    xy = np.asarray(xy, dtype=np.float64)
    w = np.asarray(w, dtype=np.int64)
    stats = PartitionStats()
    labels = np.full(len(xy), -1, dtype=np.int64)
    next_label = 0
    heavy = np.flatnonzero(w > max_size) if w.sum() > max_size else np.zeros(0, dtype=np.int64)
    for h in heavy:  # one location with more than max_size points: its own (unsplittable) group
        stats.unsplittable.append(next_label)
        labels[h] = next_label
        next_label += 1
    rest = np.flatnonzero(labels < 0)
    stack: list[tuple[np.ndarray, bool]] = [(rest, False)] if rest.size else []
    while stack:
        idx, median_only = stack.pop()
        total = int(w[idx].sum())
        if total <= max_size or idx.size == 1:
            if total > max_size:
                stats.unsplittable.append(next_label)
            labels[idx] = next_label
            next_label += 1
            continue
        groups = None
        if not median_only and total >= 2 * min_size:  # OPTICS needs room for two clusters
            for params in optics_params:
                stats.optics_calls += 1
                groups = optics_split(xy[idx], w[idx], params, min_size, rng, sample_size)
                if groups is not None:
                    stats.optics_splits += 1
                    break
        if groups is None:
            stats.median_splits += 1
            groups = median_split(xy[idx], w[idx], math.ceil(total / max_size))
            median_only = True
        for g in range(int(groups.max()) + 1)[::-1]:
            sub = idx[groups == g]
            if sub.size:
                stack.append((sub, median_only))
    labels = _absorb_small_groups(xy, w, labels, min_size, max_size, stats)
    return labels, stats


def _absorb_small_groups(
    xy: np.ndarray, w: np.ndarray, labels: np.ndarray, min_size: int, max_size: int, stats: PartitionStats
) -> np.ndarray:
    """Merge groups lighter than ``min_size`` (left by weighted median splits next to heavy
    locations) into the nearest group that stays within ``max_size``, else the nearest group.
    Returns relabelled ``0..K-1`` labels; ``stats.unsplittable`` is renumbered to match."""
    n_groups = int(labels.max()) + 1
    weight = np.bincount(labels, weights=w, minlength=n_groups)
    alive = np.ones(n_groups, dtype=bool)
    while alive.sum() > 1:
        small = np.flatnonzero(alive & (weight < min_size))
        if small.size == 0:
            break
        g = int(small[np.argmin(weight[small])])
        sw = np.bincount(labels, weights=w, minlength=n_groups)
        cx = np.bincount(labels, weights=w * xy[:, 0], minlength=n_groups) / np.maximum(sw, 1)
        cy = np.bincount(labels, weights=w * xy[:, 1], minlength=n_groups) / np.maximum(sw, 1)
        d2 = (cx - cx[g]) ** 2 + (cy - cy[g]) ** 2
        d2[~alive] = np.inf
        d2[g] = np.inf
        fits = weight + weight[g] <= max_size
        target = (
            int(np.argmin(np.where(fits, d2, np.inf))) if np.isfinite(d2[fits]).any() else int(np.argmin(d2))
        )
        labels[labels == g] = target
        weight[target] += weight[g]
        weight[g] = 0
        alive[g] = False
    remap = np.cumsum(alive) - 1
    stats.unsplittable = sorted({int(remap[u]) for u in stats.unsplittable if alive[u]})
    return remap[labels]
