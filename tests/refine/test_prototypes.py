"""Prototype building: OPTICS equivalence with scikit-learn, cluster bookkeeping, prototypes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import OPTICS

from geoloc.errors import CoordinateError
from geoloc.geo.distance import haversine_km
from geoloc.refine import build_prototypes, optics_labels, spherical_mean


def _blobs(rng, centers, n_per, spread_deg):
    lat = np.concatenate([rng.normal(c[0], spread_deg, n_per) for c in centers])
    lon = np.concatenate([rng.normal(c[1], spread_deg, n_per) for c in centers])
    return lat, lon


@pytest.mark.parametrize("n,min_samples,xi", [(4, 3, 0.15), (40, 3, 0.15), (150, 5, 0.05), (300, 10, 0.1)])
def test_optics_labels_equal_sklearn_precomputed(n, min_samples, xi):
    rng = np.random.default_rng(n)
    lat, lon = _blobs(rng, [(45, 5), (46, 7), (44, 4.5)], n // 3 + 1, 0.2)
    lat, lon = lat[:n], lon[:n]
    lat[:3], lon[:3] = lat[3], lon[3]  # duplicates (zero distances, ties)
    d = haversine_km(lat[:, None], lon[:, None], lat[None], lon[None])
    np.fill_diagonal(d, 0.0)
    ref = OPTICS(min_samples=min(min_samples, n), xi=xi, metric="precomputed").fit(d).labels_
    got = optics_labels(lat, lon, min_samples=min(min_samples, n), xi=xi)
    np.testing.assert_array_equal(got, ref)
    if n >= 40:
        assert ref.max() >= 1  # a non-trivial clustering was compared


def test_optics_ball_tree_path_equals_precomputed():
    rng = np.random.default_rng(7)
    lat, lon = _blobs(rng, [(10, 10), (10.5, 11), (9, 10)], 40, 0.1)
    a = optics_labels(lat, lon, min_samples=5, xi=0.1)
    b = optics_labels(lat, lon, min_samples=5, xi=0.1, max_precomputed=0)
    np.testing.assert_array_equal(a, b)
    assert a.max() >= 1


def _two_cluster_cell(rng):
    """Two tight clusters of 6 points 100 km apart plus one outlier half-way between them."""
    lat, lon = _blobs(rng, [(48.0, 2.0), (48.9, 2.0)], 6, 0.01)
    lat, lon = np.r_[lat, 48.45], np.r_[lon, 2.0]
    return lat, lon


def test_build_clusters_noise_and_prototypes():
    rng = np.random.default_rng(0)
    lat1, lon1 = _two_cluster_cell(rng)
    lat0, lon0 = np.array([10.0, 10.2]), np.array([20.0, 20.1])  # fewer than min_samples
    lat = np.r_[lat1, lat0]
    lon = np.r_[lon1, lon0]
    cells = np.r_[np.full(13, 1), np.zeros(2, int)]
    # cell-0 rows interleaved with cell-1 rows (OPTICS sees each cell's rows in their order)
    perm = np.r_[0:5, 13, 5:13, 14]
    lat, lon, cells = lat[perm], lon[perm], cells[perm]
    emb = rng.normal(size=(lat.size, 8)).astype(np.float32)

    p = build_prototypes(cells, lat, lon, emb, num_cells=3, min_samples=3, xi=0.15, progress=False)
    assert p.num_cells == 3 and p.num_prototypes == 3
    np.testing.assert_array_equal(p.cell, [0, 1, 1])
    np.testing.assert_array_equal(p.cell_offsets, [0, 1, 3, 3])
    np.testing.assert_array_equal(p.sizes, [2, 6, 6])
    assert p.params["n_noise_dropped"] == 1
    assert np.isnan(p.cell_centroids[2]).all()  # empty cell
    outlier_row = int(np.flatnonzero(lat == 48.45)[0])
    assert outlier_row not in p.member_rows
    for c in range(p.num_prototypes):  # naive check of every cluster
        rows = p.member_rows[p.member_offsets[c]: p.member_offsets[c + 1]]
        assert len(set(cells[rows])) == 1 and cells[rows][0] == p.cell[c]
        np.testing.assert_allclose(p.embeddings[c], emb[rows].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p.member_coords[p.member_offsets[c]: p.member_offsets[c + 1]],
                                   np.c_[lat[rows], lon[rows]])
        # members of one cluster lie within a few km of each other
        assert haversine_km(lat[rows][:, None], lon[rows][:, None], lat[rows][None], lon[rows][None]).max() < 30

    s = build_prototypes(cells, lat, lon, emb, num_cells=3, noise="singleton", progress=False)
    assert s.num_prototypes == 4 and s.params["n_noise_dropped"] == 0
    assert outlier_row in s.member_rows


def test_normalized_prototypes_have_unit_norm():
    rng = np.random.default_rng(1)
    lat, lon = _two_cluster_cell(rng)
    emb = rng.normal(size=(lat.size, 5)) * 3
    p = build_prototypes(np.zeros(lat.size, int), lat, lon, emb, 1, normalize=True, progress=False)
    np.testing.assert_allclose(np.linalg.norm(p.embeddings, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(p.member_embeddings, axis=1), 1.0, rtol=1e-5)


def test_all_noise_cell_becomes_one_cluster():
    # equally spaced points: OPTICS finds no xi-steep structure -> all noise -> one cluster
    lat = np.zeros(8)
    lon = np.arange(8) * 1.0
    p = build_prototypes(np.zeros(8, int), lat, lon, np.eye(8), 1, progress=False)
    assert p.num_prototypes >= 1 and p.member_rows.size + p.params["n_noise_dropped"] == 8


def test_spherical_mean_across_dateline_and_empty_segments():
    lat = np.array([0.0, 0.0, 10.0, 20.0])
    lon = np.array([179.0, -179.0, 0.0, 0.0])
    out = spherical_mean(lat, lon, np.array([0, 2, 2, 4]))
    assert out[0, 0] == pytest.approx(0.0, abs=1e-9) and abs(out[0, 1]) == pytest.approx(180.0)
    assert np.isnan(out[1]).all()
    assert out[2, 1] == pytest.approx(0.0, abs=1e-9) and 14.9 < out[2, 0] < 15.1


def test_input_errors():
    emb = np.zeros((3, 2))
    with pytest.raises(CoordinateError, match="row 1"):
        build_prototypes([0, 0, 0], [0, np.nan, 0], [0, 0, 0], emb, 1, progress=False)
    with pytest.raises(ValueError, match="cell ids outside"):
        build_prototypes([0, 5, 0], [0, 0, 0], [0, 0, 0], emb, 2, progress=False)
    with pytest.raises(ValueError, match="non-finite embeddings"):
        build_prototypes([0, 0, 0], [0, 0, 0], [0, 0, 0], np.array([[0, 0], [np.inf, 0], [0, 0]]), 1,
                         progress=False)
    with pytest.raises(ValueError, match="noise"):
        build_prototypes([0], [0], [0], np.zeros((1, 2)), 1, noise="keep", progress=False)
