"""Metric-learning pieces users of pytorch-metric-learning expect, on the library's primitives:
batch-hard / multi-similarity / triplet-margin miners (dense masks), triplet, multi-similarity and
circle losses (checked against float64 loops from the papers' formulas), the cross-batch memory
and the Matryoshka wrapper."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from representation.losses import (
    CircleLoss,
    InfoNCELoss,
    MatryoshkaLoss,
    MultiSimilarityLoss,
    SupConLoss,
    TripletMarginLoss,
)
from representation.memory import CrossBatchMemory
from representation.miners import BatchHardMiner, MultiSimilarityMiner, TripletMarginMiner


def _data(n: int = 10, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3, 1, 2][:n])
    return z, y


def _cos(z):
    zn = [[float(v) / math.sqrt(sum(float(u) ** 2 for u in r)) for v in r] for r in z]
    return [[sum(a * b for a, b in zip(zn[i], zn[j], strict=True)) for j in range(len(zn))] for i in range(len(zn))]


def _pairs(y, i):
    n = len(y)
    return [j for j in range(n) if j != i and y[j] == y[i]], [j for j in range(n) if y[j] != y[i]]


def test_miners_match_loops() -> None:
    z, y = _data()
    s = _cos(z)
    d = torch.tensor([[1 - v for v in row] for row in s], dtype=torch.float64)
    yl = y.tolist()
    pos = torch.tensor([[j != i and yl[j] == yl[i] for j in range(10)] for i in range(10)])
    neg = torch.tensor([[yl[j] != yl[i] for j in range(10)] for i in range(10)])
    hard = BatchHardMiner()(d, pos, neg)
    ms = MultiSimilarityMiner(0.1)(d, pos, neg)
    trip = TripletMarginMiner(0.1, "semihard")(d, pos, neg)
    for i in range(10):
        ps, ns = _pairs(yl, i)
        if ps and ns:
            assert hard.pos[i].nonzero().flatten().tolist() == [max(ps, key=lambda j: d[i, j])]
            assert hard.neg[i].nonzero().flatten().tolist() == [min(ns, key=lambda j: d[i, j])]
        else:
            assert not hard.pos[i].any() and not hard.neg[i].any()
        for j in range(10):
            keep_n = j in ns and bool(ps) and d[i, j] < max(d[i, p] for p in ps) + 0.1
            keep_p = j in ps and bool(ns) and d[i, j] > min(d[i, q] for q in ns) - 0.1
            assert bool(ms.neg[i, j]) == keep_n and bool(ms.pos[i, j]) == keep_p
            for k in range(10):
                gap = float(d[i, k] - d[i, j])
                assert bool(trip[i, j, k]) == (j in ps and k in ns and 0 < gap <= 0.1)


def test_triplet_loss_matches_loop_and_reducers() -> None:
    z, y = _data()
    s, yl = _cos(z), y.tolist()
    terms = []
    for i in range(10):
        ps, ns = _pairs(yl, i)
        for p in ps:
            for q in ns:
                dap = math.sqrt(max(2 - 2 * s[i][p], 0.0) + 1e-12)
                dan = math.sqrt(max(2 - 2 * s[i][q], 0.0) + 1e-12)
                terms.append(max(dap - dan + 0.2, 0.0))
    mean = TripletMarginLoss(margin=0.2, reduction="mean")(z, y)
    nonzero = TripletMarginLoss(margin=0.2)(z, y)
    assert mean.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)
    assert nonzero.item() == pytest.approx(sum(terms) / sum(t > 0 for t in terms), rel=1e-9)
    cos_loss = TripletMarginLoss(margin=0.2, distance="cosine", reduction="mean")(z, y)
    cos_terms = [max((1 - s[i][p]) - (1 - s[i][q]) + 0.2, 0.0) for i in range(10)
                 for p in _pairs(yl, i)[0] for q in _pairs(yl, i)[1]]
    assert cos_loss.item() == pytest.approx(sum(cos_terms) / len(cos_terms), rel=1e-9)
    # batch-hard: one triplet per anchor, hardest positive and negative
    bh = TripletMarginLoss(margin=0.2, reduction="mean", miner=BatchHardMiner())(z, y)
    hard_terms = []
    for i in range(10):
        ps, ns = _pairs(yl, i)
        if ps and ns:
            dap = max(math.sqrt(max(2 - 2 * s[i][p], 0) + 1e-12) for p in ps)
            dan = min(math.sqrt(max(2 - 2 * s[i][q], 0) + 1e-12) for q in ns)
            hard_terms.append(max(dap - dan + 0.2, 0.0))
    assert bh.item() == pytest.approx(sum(hard_terms) / len(hard_terms), rel=1e-9)


def test_multi_similarity_and_circle_match_the_papers() -> None:
    z, y = _data()
    s, yl = _cos(z), y.tolist()
    a, b, lam = 2.0, 50.0, 0.5
    ms_rows, circle_rows = [], []
    for i in range(10):
        ps, ns = _pairs(yl, i)
        ms_rows.append(1 / a * math.log(1 + sum(math.exp(-a * (s[i][p] - lam)) for p in ps))
                       + 1 / b * math.log(1 + sum(math.exp(b * (s[i][q] - lam)) for q in ns)))
        if ps:
            m, gamma = 0.4, 16.0
            lp = [-gamma * max(1 + m - s[i][p], 0) * (s[i][p] - (1 - m)) for p in ps]
            ln = [gamma * max(s[i][q] + m, 0) * (s[i][q] - m) for q in ns]
            zsum = math.log(sum(math.exp(v) for v in lp)) + math.log(sum(math.exp(v) for v in ln))
            circle_rows.append(math.log1p(math.exp(zsum)))
    assert MultiSimilarityLoss()(z, y).item() == pytest.approx(sum(ms_rows) / 10, rel=1e-9)
    assert CircleLoss(margin=0.4, gamma=16.0)(z, y).item() == pytest.approx(sum(circle_rows) / len(circle_rows),
                                                                            rel=1e-9)
    mined = MultiSimilarityLoss(miner=MultiSimilarityMiner(0.1))(z, y)
    assert torch.isfinite(mined) and mined.item() != pytest.approx(sum(ms_rows) / 10)


def test_metric_losses_decrease() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 8)
    y = torch.arange(4).repeat(8)
    x = x + 2 * torch.randn(4, 8)[y]
    for loss_fn in (TripletMarginLoss(margin=0.2), MultiSimilarityLoss(), CircleLoss(gamma=16.0)):
        enc = torch.nn.Linear(8, 6)
        opt = torch.optim.Adam(enc.parameters(), lr=2e-2)
        first = loss_fn(enc(x), y).item()
        for _ in range(40):
            opt.zero_grad()
            loss_fn(enc(x), y).backward()
            opt.step()
        assert loss_fn(enc(x), y).item() < first


def test_cross_batch_memory_scores_against_past_batches() -> None:
    z1, y1 = _data(seed=1)
    z2, y2 = _data(seed=2)
    xbm = CrossBatchMemory(SupConLoss(temperature=0.2), embedding_size=4, memory_size=15).double()
    first = xbm(z1, y1)
    assert first.item() == pytest.approx(SupConLoss(temperature=0.2)(z1, y1).item(), rel=1e-12)
    assert int(xbm.memory_filled) == 10
    second = xbm(z2, y2)
    expect = SupConLoss(temperature=0.2)(z2, y2, memory=z1, memory_labels=y1)
    assert second.item() == pytest.approx(expect.item(), rel=1e-12)
    assert int(xbm.memory_filled) == 15 and int(xbm.memory_ptr) == 5  # FIFO wrapped
    torch.testing.assert_close(xbm.memory()[0][:5], F.normalize(z2[5:], dim=-1) * 0 + z2[5:])
    xbm.eval()
    xbm(z1, y1)
    assert int(xbm.memory_ptr) == 5  # no enqueue in eval mode
    trip = CrossBatchMemory({"type": "triplet_margin", "margin": 0.3}, embedding_size=4).double()
    trip(z1, y1)
    assert trip(z2, y2).item() == pytest.approx(
        TripletMarginLoss(margin=0.3)(z2, y2, memory=z1, memory_labels=y1).item(), rel=1e-12)


def test_supcon_memory_matches_loop() -> None:
    z, y = _data()
    mem, mem_y = torch.randn(3, 4, dtype=torch.float64), torch.tensor([0, 3, 9])
    allz = torch.cat([z, mem])
    s = _cos(allz)
    labels = y.tolist() + mem_y.tolist()
    total, count = 0.0, 0
    for i in range(10):
        cands = [j for j in range(13) if j != i]
        ps = [j for j in cands if labels[j] == labels[i]]
        if not ps:
            continue
        lse = math.log(sum(math.exp(s[i][j] / 0.2) for j in cands))
        total += sum(lse - s[i][p] / 0.2 for p in ps) / len(ps)
        count += 1
    got = SupConLoss(temperature=0.2)(z, y, memory=mem, memory_labels=mem_y)
    assert got.item() == pytest.approx(total / count, rel=1e-10)


def test_matryoshka_sums_the_prefix_losses() -> None:
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 8, generator=g, dtype=torch.float64), torch.randn(6, 8, generator=g, dtype=torch.float64)
    inner = InfoNCELoss(temperature=0.1)
    wrapped = MatryoshkaLoss(inner, dims=[8, 4, 2], weights=[1.0, 0.5, 0.25])
    out = wrapped(q, k, return_dict=True)
    expect = {d: w * inner(q[:, :d], k[:, :d]) for d, w in ((8, 1.0), (4, 0.5), (2, 0.25))}
    for d, v in expect.items():
        assert out[f"matryoshka_{d}_loss"].item() == pytest.approx(v.item(), rel=1e-12)
    assert wrapped(q, k).item() == pytest.approx(sum(v.item() for v in expect.values()), rel=1e-12)
    targets = torch.eye(6, dtype=torch.float64)  # non-embedding tensors pass unchanged
    assert wrapped(q, k, targets=targets).item() == pytest.approx(wrapped(q, k).item(), rel=1e-12)
    with pytest.raises(ValueError, match="exceed"):
        MatryoshkaLoss(inner, dims=[16])(q, k)
