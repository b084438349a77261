"""Refinement: equals a plain per-query reference implementation; nearest (not farthest)
member; fallbacks; max_km cap; torch and faiss backends agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoloc.geo.distance import haversine_km
from geoloc.refine import LocationPrototypes, Refiner, build_prototypes


def _world(seed=0, n=1500, cells=30, dim=16, empty=(3, 17)):
    rng = np.random.default_rng(seed)
    centers = np.c_[rng.uniform(-50, 60, cells), rng.uniform(-170, 170, cells)]
    cell = rng.integers(0, cells, n)
    cell = np.where(np.isin(cell, empty), 0, cell)
    lat = centers[cell, 0] + rng.normal(0, 0.4, n)
    lon = centers[cell, 1] + rng.normal(0, 0.4, n)
    emb = (rng.normal(size=(n, dim)) + 0.5 * np.repeat(rng.normal(size=(cells, dim)), 1, 0)[cell]).astype(np.float32)
    return rng, build_prototypes(cell, lat, lon, emb, cells, progress=False), centers


def _reference(p: LocationPrototypes, q, probs, cents, *, k, t, within, max_km, metric):
    """One query at a time, written as plainly as possible (PIGEON.md §1.5, nearest member)."""

    def score(x, v):
        return float(x @ v) if metric == "ip" else -float(np.linalg.norm(x - v))

    out = []
    for qi, pr in zip(q, probs):
        top = np.argsort(-pr, kind="stable")[:k]
        best = []
        for c in top:
            rows = range(p.cell_offsets[c], p.cell_offsets[c + 1])
            s = [(score(qi, p.embeddings[r]), r) for r in rows]
            best.append(max(s, key=lambda x: (x[0], -x[1])) if s else (-np.inf, -1))
        sc = np.array([b[0] for b in best])
        fallback = (cents[top[0], 0], cents[top[0], 1], -1, 0)
        if not np.isfinite(sc).any():
            out.append(fallback)
            continue
        w = np.exp((sc - sc[np.isfinite(sc)].max()) / t)
        w = w / w.sum()
        if not (w * pr[top] > 0).any():
            out.append(fallback)
            continue
        rank = int(np.argmax(w * pr[top]))

        def locate(cluster):
            if within == "centroid":
                return p.centroid[cluster]
            mem = range(p.member_offsets[cluster], p.member_offsets[cluster + 1])
            m = max(mem, key=lambda r: (score(qi, p.member_embeddings[r]), -r))
            return p.member_coords[m]

        lat, lon = locate(best[rank][1])
        if max_km is not None and haversine_km(lat, lon, *cents[top[0]]) > max_km:
            if best[0][1] < 0:
                out.append(fallback)
                continue
            rank = 0
            lat, lon = locate(best[0][1])
        out.append((lat, lon, best[rank][1], rank))
    return out


@pytest.mark.parametrize("backend", ["torch", "faiss"])
@pytest.mark.parametrize("metric,within,max_km,k,t", [
    ("l2", "nearest", None, 5, 1.6),
    ("l2", "centroid", None, 3, 0.6),
    ("ip", "nearest", 500.0, 8, 1.0),
    ("l2", "nearest", 1000.0, 40, 0.6),
])
def test_matches_reference(backend, metric, within, max_km, k, t):
    rng, p, centers = _world()
    q = rng.normal(size=(50, p.dim)).astype(np.float32)
    probs = rng.dirichlet(np.full(p.num_cells, 0.2), size=50)
    probs[0] = 0
    probs[0, [3, 17]] = [0.7, 0.3]  # top cells without prototypes -> fallback to top-1 centroid
    r = Refiner(p, cell_centroids=centers, top_k=k, temperature=t, within=within, max_km=max_km,
                metric=metric, backend=backend).refine(q, probs)
    ref = _reference(p, q, probs, centers, k=min(k, p.num_cells), t=t, within=within, max_km=max_km, metric=metric)
    np.testing.assert_allclose(r.lat, [x[0] for x in ref])
    np.testing.assert_allclose(r.lon, [x[1] for x in ref])
    np.testing.assert_array_equal(r.cluster, [x[2] for x in ref])
    np.testing.assert_array_equal(r.rank, [x[3] for x in ref])
    np.testing.assert_array_equal(r.fallback, [x[2] < 0 for x in ref])
    assert r.fallback[0] and r.cell[0] == 3 and r.lat[0] == centers[3, 0]
    assert (~r.fallback).sum() > 40
    if max_km is not None and k == 40:
        assert r.capped.any()


def test_nearest_member_not_farthest():
    # one cell, one cluster of 5 members with distinct embeddings; the query equals member 2's
    lat = 45 + np.array([0.0, 0.01, 0.02, 0.03, 0.04])
    lon = np.full(5, 7.0)
    emb = np.eye(5, dtype=np.float32) * np.arange(1, 6)[:, None]
    p = build_prototypes(np.zeros(5, int), lat, lon, emb, 1, min_samples=10, progress=False)
    assert p.num_prototypes == 1
    for backend in ("torch", "faiss"):
        r = Refiner(p, backend=backend).refine(emb[[2]], np.ones((1, 1)))
        assert (r.lat[0], r.lon[0]) == (lat[2], lon[2])
        assert r.train_row[0] == 2
        dist = np.linalg.norm(emb - emb[2], axis=1)
        assert r.train_row[0] != int(np.argmax(dist))  # the reference bug would pick the farthest


def test_max_km_keeps_top_cell():
    # cell 0 (prob 0.5) near (0, 0); cell 1 (prob 0.45) 2000 km away has a prototype equal to the query
    lat = np.r_[np.zeros(3), np.full(3, 18.0)]
    lon = np.r_[np.linspace(0, 0.02, 3), np.linspace(0, 0.02, 3)]
    emb = np.r_[np.full((3, 2), 10.0), np.zeros((3, 2))].astype(np.float32)
    cells = np.r_[np.zeros(3, int), np.ones(3, int)]
    p = build_prototypes(cells, lat, lon, emb, 2, min_samples=5, progress=False)
    probs = np.array([[0.5, 0.45]])
    free = Refiner(p, top_k=2, temperature=1.0).refine(np.zeros((1, 2)), probs)
    assert free.cell[0] == 1 and not free.capped[0]
    capped = Refiner(p, top_k=2, temperature=1.0, max_km=1000).refine(np.zeros((1, 2)), probs)
    assert capped.cell[0] == 0 and capped.capped[0] and capped.lat[0] == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_equals_cpu():
    rng, p, _centers = _world(seed=3)
    q = rng.normal(size=(64, p.dim)).astype(np.float32)
    probs = rng.dirichlet(np.full(p.num_cells, 0.2), size=64)
    a = Refiner(p, device="cpu", backend="torch").refine(q, probs)
    b = Refiner(p, device="cuda", backend="torch").refine(q, probs)
    np.testing.assert_array_equal(a.member, b.member)


def test_shape_errors():
    _, p, _ = _world(n=300)
    ref = Refiner(p)
    with pytest.raises(ValueError, match="embeddings"):
        ref.refine(np.zeros((2, p.dim + 1)), np.zeros((2, p.num_cells)))
    with pytest.raises(ValueError, match="cell_probs"):
        ref.refine(np.zeros((2, p.dim)), np.zeros((2, p.num_cells + 1)))
    with pytest.raises(ValueError, match="within"):
        Refiner(p, within="farthest")


def test_float16_members_and_auto_backend_agree():
    rng = np.random.default_rng(5)
    n = 800
    cell = rng.integers(0, 12, n)
    lat, lon = cell * 3.0 + rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)
    p = build_prototypes(cell, lat, lon, rng.normal(size=(n, 16)), 12, progress=False, member_dtype=np.float16)
    assert p.member_embeddings.dtype == np.float16
    q, probs = rng.normal(size=(100, 16)), rng.dirichlet(np.ones(12), 100)
    a = Refiner(p, backend="torch").refine(q, probs)
    b = Refiner(p, backend="faiss").refine(q, probs)
    c = Refiner(p).refine(q, probs)
    assert Refiner(p).backend == "faiss"
    for r in (b, c):
        np.testing.assert_array_equal(a.member, r.member)
        np.testing.assert_array_equal(a.cluster, r.cluster)
