import math

import pytest
import torch

from representation.eval import (
    alignment,
    average_precision,
    isotropy,
    label_positives,
    mean_average_precision,
    recall_at_k,
    uniformity,
)


def _naive_ap(scores, pos):
    order = sorted(range(len(scores)), key=lambda j: (-float(scores[j]), j))
    hits, total, n_pos = 0, 0.0, sum(bool(p) for p in pos)
    for rank, j in enumerate(order, start=1):
        if pos[j]:
            hits += 1
            total += hits / rank
    return total / n_pos if n_pos else float("nan")


def test_recall_and_map_against_loops():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(7, 9, generator=g, dtype=torch.float64)
    pos = torch.rand(7, 9, generator=g) > 0.7
    pos[3] = False  # a query without positives is left out
    r = recall_at_k(scores, pos, ks=(1, 3, 20))
    valid = [i for i in range(7) if pos[i].any()]
    for k in (1, 3, 20):
        hits = 0
        for i in valid:
            top = sorted(range(9), key=lambda j, i=i: (-float(scores[i, j]), j))[:k]
            hits += any(bool(pos[i, j]) for j in top)
        assert r[f"R@{k}"] == pytest.approx(hits / len(valid))
    assert r["n_queries"] == len(valid) and r["R@20"] == 1.0
    ap = average_precision(scores, pos)
    for i in range(7):
        want = _naive_ap(scores[i], pos[i])
        if math.isnan(want):
            assert math.isnan(float(ap[i]))
        else:
            assert float(ap[i]) == pytest.approx(want)
    assert mean_average_precision(scores, pos) == pytest.approx(sum(_naive_ap(scores[i], pos[i]) for i in valid)
                                                                / len(valid))


def test_known_cases():
    eye = torch.eye(4)
    assert recall_at_k(eye, eye.bool(), ks=(1,))["R@1"] == 1.0
    assert mean_average_precision(eye, eye.bool()) == 1.0
    # the only positive ranked last of 4 -> R@1 = 0, AP = 1/4
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    pos = torch.tensor([[False, False, False, True]])
    assert recall_at_k(scores, pos, ks=(1, 4)) == {"R@1": 0.0, "R@4": 1.0, "n_queries": 1.0}
    assert mean_average_precision(scores, pos) == pytest.approx(0.25)
    # positives at ranks 1 and 3 -> AP = (1 + 2/3) / 2
    assert mean_average_precision(scores, torch.tensor([[True, False, True, False]])) == pytest.approx(5 / 6)
    lp = label_positives(torch.tensor([1, 2, 1]), torch.tensor([1, 2, 1]), exclude_self=True)
    assert lp.tolist() == [[False, False, True], [False, False, False], [True, False, False]]


def test_alignment_uniformity_isotropy():
    x = torch.randn(50, 16, dtype=torch.float64)
    assert alignment(x, 3 * x) == pytest.approx(0.0, abs=1e-12)
    assert alignment(x, -x) == pytest.approx(4.0)
    pair = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert uniformity(pair) == pytest.approx(-8.0)  # |x - y|^2 = 4, t = 2
    # naive uniformity
    xn = torch.nn.functional.normalize(x[:10], dim=1)
    vals = [math.exp(-2 * float((xn[i] - xn[j]).pow(2).sum())) for i in range(10) for j in range(i + 1, 10)]
    assert uniformity(x[:10]) == pytest.approx(math.log(sum(vals) / len(vals)))
    assert uniformity(torch.randn(200, 3)) < uniformity(torch.randn(200, 3) * 0.1 + torch.tensor([1.0, 0, 0]))
    # isotropy: naive loop, Gaussian ~ 1, identical vectors 0
    cos = [float(xn[i] @ xn[j]) for i in range(10) for j in range(10) if i != j]
    assert isotropy(x[:10]) == pytest.approx(1 - sum(cos) / len(cos))
    g = torch.Generator().manual_seed(1)
    assert isotropy(torch.randn(500, 256, generator=g)) == pytest.approx(1.0, abs=0.01)
    assert isotropy(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-6)
