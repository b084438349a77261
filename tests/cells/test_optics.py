"""The vectorised OPTICS ordering reproduces scikit-learn's OPTICS exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import OPTICS

from geoloc.cells.optics import optics_graph, optics_xi_labels


def _blobs(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, (n // 2, 2))
    b = rng.normal(0.0, 0.05, (n // 4, 2)) + np.array([2.0, 1.0])
    c = rng.normal(0.0, 0.2, (n - n // 2 - n // 4 - 6, 2)) - np.array([3.0, 0.0])
    dup = np.repeat(rng.normal(0, 1, (2, 2)), 3, axis=0)  # duplicates: zero distances and ties
    return np.concatenate([a, b, c, dup])


@pytest.mark.parametrize(
    ("seed", "n", "min_samples", "xi"), [(0, 120, 5, 0.05), (1, 300, 8, 0.05), (2, 250, 10, 0.025)]
)
def test_matches_sklearn(seed, n, min_samples, xi):
    x = _blobs(seed, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = OPTICS(min_samples=min_samples, xi=xi).fit(x)
        labels = optics_xi_labels(x, min_samples, xi)
    ordering, core, reach, pred = optics_graph(x, min_samples)
    np.testing.assert_array_equal(ordering, ref.ordering_)
    np.testing.assert_allclose(core, ref.core_distances_, rtol=1e-12)
    np.testing.assert_allclose(reach, ref.reachability_, rtol=1e-12)
    np.testing.assert_array_equal(pred, ref.predecessor_)
    np.testing.assert_array_equal(labels, ref.labels_)
    assert labels.max() >= 1  # the blobs are found


def test_tiny_inputs():
    assert optics_xi_labels(np.zeros((0, 2)), 5, 0.05).shape == (0,)
    assert optics_xi_labels(np.zeros((1, 2)), 5, 0.05).tolist() == [-1]
    ordering, *_ = optics_graph(np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]), 2)
    assert sorted(ordering.tolist()) == [0, 1, 2]
