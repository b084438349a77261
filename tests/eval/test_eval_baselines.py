"""kNN retrieval and majority-cell baselines against brute-force per-query loops and properties."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import CoordinateError, GeolocError
from geoloc.eval.baselines import (
    KnnRetrieval,
    knn_aggregate,
    knn_search,
    majority_cell,
    majority_cell_baseline,
    neighbour_weights,
)
from geoloc.geo.distance import haversine_km


def _data(n=300, q=40, d=12, seed=0):
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((n, d))
    query = rng.standard_normal((q, d))
    lat = rng.uniform(-80, 80, n)
    lon = rng.uniform(-180, 180, n)
    return train, query, lat, lon


def _brute_knn(query, train, k, metric):
    out_s, out_i = [], []
    for qv in query:
        rows = []
        for j, tv in enumerate(train):
            if metric == "l2":
                rows.append((float(np.sqrt(np.sum((qv - tv) ** 2))), j))
            elif metric == "ip":
                rows.append((-float(qv @ tv), j))
            else:
                rows.append((-float(qv @ tv / np.linalg.norm(qv) / np.linalg.norm(tv)), j))
        rows.sort()
        best = rows[:k]
        out_s.append([s if metric == "l2" else -s for s, _ in best])
        out_i.append([j for _, j in best])
    return np.array(out_s), np.array(out_i)


def _brute_spherical_mean(lats, lons, ws):
    v = np.zeros(3)
    for la, lo, w in zip(lats, lons, ws, strict=True):
        p, q = np.radians(la), np.radians(lo)
        v += w * np.array([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)])
    return np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1]))), np.degrees(np.arctan2(v[1], v[0]))


@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
@pytest.mark.parametrize("k", [1, 5, 300])
def test_knn_search_matches_brute_force(metric, k):
    train, query, _, _ = _data()
    s, i = knn_search(query, train, k, metric=metric, chunk=7)
    bs, bi = _brute_knn(query, train, k, metric)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(s, bs, rtol=1e-9, atol=1e-9)


def test_knn_search_ties_take_the_lower_index():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    s, i = knn_search(np.array([[1.0, 0.0]]), train, 2)
    np.testing.assert_array_equal(i, [[0, 2]])
    np.testing.assert_allclose(s, [[0.0, 0.0]])


def test_knn_k1_returns_the_location_of_an_identical_training_embedding():
    train, _, lat, lon = _data()
    pick = np.array([3, 77, 150, 299])
    plat, plon = KnnRetrieval(train, lat, lon).predict(train[pick] + 1e-9, k=1)
    np.testing.assert_allclose(plat, lat[pick])
    np.testing.assert_allclose(plon, lon[pick])


def test_mean_and_weights_match_brute_force():
    train, query, lat, lon = _data(seed=1)
    knn = KnnRetrieval(train, lat, lon)
    for temp in (None, 0.5):
        plat, plon = knn.predict(query, k=6, aggregate="mean", temperature=temp)
        s, idx = _brute_knn(query, train, 6, "l2")
        for r in range(query.shape[0]):
            w = np.ones(6) if temp is None else np.exp(-s[r] / temp)
            el, eo = _brute_spherical_mean(lat[idx[r]], lon[idx[r]], w)
            assert haversine_km(plat[r], plon[r], el, eo) < 1e-6


def test_weights_softmax_rows_sum_to_one_and_prefer_the_nearest():
    s = np.array([[0.1, 0.5, 2.0]])
    w = neighbour_weights(s, "l2", 1.0)
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert w[0, 0] > w[0, 1] > w[0, 2]
    w_sim = neighbour_weights(np.array([[0.9, 0.2]]), "cosine", 0.1)
    assert w_sim[0, 0] > w_sim[0, 1]
    np.testing.assert_array_equal(neighbour_weights(s, "l2", None), np.ones_like(s))


def _brute_vote(lats, lons, ws, vote_km):
    k = len(lats)
    support = [sum(ws[j] for j in range(k) if haversine_km(lats[i], lons[i], lats[j], lons[j]) <= vote_km)
               for i in range(k)]
    win = int(np.argmax(support))
    mem = [j for j in range(k) if haversine_km(lats[win], lons[win], lats[j], lons[j]) <= vote_km]
    return _brute_spherical_mean(lats[mem], lons[mem], ws[mem])


def test_vote_matches_brute_force():
    rng = np.random.default_rng(4)
    q, k = 60, 9
    # clusters of neighbours around a few towns, so votes are not all singletons
    towns = np.c_[rng.uniform(-60, 60, 4), rng.uniform(-170, 170, 4)]
    pick = rng.integers(0, 4, (q, k))
    la = towns[pick, 0] + rng.normal(0, 0.1, (q, k))
    lo = towns[pick, 1] + rng.normal(0, 0.1, (q, k))
    w = rng.uniform(0.1, 1.0, (q, k))
    plat, plon = knn_aggregate(la, lo, w, aggregate="vote", vote_km=50.0)
    for r in range(q):
        el, eo = _brute_vote(la[r], lo[r], w[r], 50.0)
        assert haversine_km(plat[r], plon[r], el, eo) < 1e-6


def test_vote_commits_to_the_majority_where_the_mean_splits_the_difference():
    # 3 neighbours in Madrid, 2 in Santiago de Chile: the vote stays in Madrid, the mean does not
    la = np.array([[40.4, 40.41, 40.42, -33.4, -33.41]])
    lo = np.array([[-3.7, -3.71, -3.69, -70.6, -70.61]])
    w = np.ones_like(la)
    vlat, vlon = knn_aggregate(la, lo, w, aggregate="vote", vote_km=25)
    mlat, mlon = knn_aggregate(la, lo, w, aggregate="mean")
    assert haversine_km(vlat[0], vlon[0], 40.41, -3.70) < 2
    assert haversine_km(mlat[0], mlon[0], 40.41, -3.70) > 1000
    # tie in support: the group containing the nearest neighbour (column 0) wins
    tlat, tlon = knn_aggregate(la[:, 1:], lo[:, 1:], w[:, 1:], aggregate="vote", vote_km=25)
    assert haversine_km(tlat[0], tlon[0], 40.415, -3.70) < 2


def test_antipodal_mean_falls_back_to_the_nearest_neighbour():
    plat, plon = knn_aggregate(np.array([[10.0, -10.0]]), np.array([[20.0, -160.0]]), np.ones((1, 2)),
                               aggregate="mean")
    np.testing.assert_allclose([plat[0], plon[0]], [10.0, 20.0], atol=1e-9)


def test_majority_cell_matches_counting_loop():
    rng = np.random.default_rng(2)
    cells = rng.integers(0, 30, 500)
    counts = {}
    for c in cells:
        counts[int(c)] = counts.get(int(c), 0) + 1
    best = max(sorted(counts), key=lambda c: counts[c])
    assert majority_cell(cells) == best
    cent = np.c_[rng.uniform(-50, 50, 30), rng.uniform(-100, 100, 30)]
    lat, lon = majority_cell_baseline(cells, cent, 7)
    assert lat.shape == (7,) and np.all(lat == cent[best, 0]) and np.all(lon == cent[best, 1])


def test_majority_cell_ties_and_missing_labels():
    assert majority_cell([3, 1, 3, 1, -1, -1, -1]) == 1
    with pytest.raises(GeolocError, match="no training geocell"):
        majority_cell([-1, -1])
    with pytest.raises(GeolocError, match="out of range"):
        majority_cell_baseline([5, 5], np.zeros((3, 2)), 2)


def test_user_errors_are_clear():
    train, query, lat, lon = _data(n=10, q=2)
    with pytest.raises(GeolocError, match="k must be"):
        knn_search(query, train, 11)
    with pytest.raises(GeolocError, match="dim"):
        knn_search(query[:, :3], train, 1)
    with pytest.raises(GeolocError, match="metric"):
        knn_search(query, train, 1, metric="manhattan")
    bad = train.copy()
    bad[4, 0] = np.nan
    with pytest.raises(GeolocError, match="non-finite"):
        KnnRetrieval(bad, lat, lon)
    with pytest.raises(GeolocError, match="locations"):
        KnnRetrieval(train, lat[:5], lon[:5])
    lat2 = lat.copy()
    lat2[0] = 95
    with pytest.raises(CoordinateError):
        KnnRetrieval(train, lat2, lon)
    with pytest.raises(GeolocError, match="aggregate"):
        KnnRetrieval(train, lat, lon).predict(query, k=2, aggregate="median")
