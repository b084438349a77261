"""Label-space splitting: every point labelled once, sizes within bounds, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoloc.cells.partition import median_split, partition_points


def _clustered(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, (6, 2))
    which = rng.integers(0, 6, n)
    return centres[which] + rng.normal(0, rng.uniform(0.05, 1.0, 6)[which, None], (n, 2))


@pytest.mark.parametrize(("seed", "n", "lo", "hi"), [(0, 700, 30, 60), (1, 1500, 20, 40), (2, 400, 50, 100)])
def test_sizes_within_bounds(seed, n, lo, hi):
    xy = _clustered(seed, n)
    w = np.ones(n, dtype=np.int64)
    labels, stats = partition_points(xy, w, min_size=lo, max_size=hi, rng=np.random.default_rng(seed))
    assert labels.min() == 0 and (labels >= 0).all()
    sizes = np.bincount(labels)
    assert sizes.sum() == n
    assert sizes.min() >= lo and sizes.max() <= hi, sizes
    assert stats.unsplittable == []
    assert stats.optics_calls >= 1


def test_deterministic_for_a_seed():
    xy = _clustered(5, 900)
    w = np.ones(900, dtype=np.int64)
    a, _ = partition_points(xy, w, min_size=30, max_size=60, rng=np.random.default_rng(9))
    b, _ = partition_points(xy, w, min_size=30, max_size=60, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


def test_subsampled_optics_still_fits():
    xy = _clustered(3, 5000)
    w = np.ones(5000, dtype=np.int64)
    labels, stats = partition_points(
        xy, w, min_size=100, max_size=200, rng=np.random.default_rng(0), sample_size=300
    )
    sizes = np.bincount(labels)
    assert sizes.min() >= 100 and sizes.max() <= 200
    # the subsampled OPTICS passes do split (clusters sized to min_size on the sample)
    assert stats.optics_splits >= 1


def test_heavy_location_is_unsplittable_and_rest_fits():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (200, 2))
    w = np.ones(200, dtype=np.int64)
    w[17] = 90  # one location with 90 photos, more than max_size
    labels, stats = partition_points(xy, w, min_size=20, max_size=40, rng=rng)
    sizes = np.bincount(labels, weights=w).astype(int)
    assert sizes.sum() == w.sum()
    assert stats.unsplittable == [labels[17]]
    assert sizes[labels[17]] >= 90
    others = np.delete(sizes, labels[17])
    assert others.min() >= 20 and others.max() <= 40


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), k=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_median_split_is_balanced(n, k, seed):
    xy = np.random.default_rng(seed).normal(size=(n, 2))
    w = np.ones(n, dtype=np.int64)
    labels = median_split(xy, w, k)
    sizes = np.bincount(labels)
    assert sizes.sum() == n
    assert len(sizes) == min(k, n) or n < k
    if n >= k:
        # near-equal groups: every group within a few points of n / k
        assert sizes.max() - sizes.min() <= max(2, int(np.ceil(np.log2(k))) + 1)
