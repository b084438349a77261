"""kNN and linear-probe evaluators (checked against loops and scikit-learn), and the MOFI
large-vocabulary entity head (full softmax = cross-entropy; sampled softmax keeps the batch's
classes, gives gradient only to scored classes, and is identical on every rank)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from representation.eval import KNNEvaluator, LinearProbe, fit_linear_probe, knn_scores
from representation.heads import LargeVocabClassifier


def _blobs(n: int, c: int = 3, d: int = 5, seed: int = 0, spread: float = 1.0):
    centers = torch.randn(c, d, generator=torch.Generator().manual_seed(99)) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    return centers[y] + spread * torch.randn(n, d, generator=g), y


def test_knn_scores_match_loop() -> None:
    bank, by = _blobs(20)
    query, _ = _blobs(6, seed=1)
    got = knn_scores(query, bank, by, k=5, temperature=0.1, num_classes=3)
    for i in range(6):
        sims = sorted(((float(F.cosine_similarity(query[i], bank[j], dim=0)), int(by[j])) for j in range(20)),
                      reverse=True)[:5]
        for c in range(3):
            expect = sum(math.exp(s / 0.1) for s, lab in sims if lab == c)
            assert got[i, c].item() == pytest.approx(expect, rel=1e-5)
    loo = knn_scores(bank, bank, by, k=3, exclude_self=True, weighting="uniform")
    assert torch.equal(loo.sum(1), torch.full((20,), 3.0))
    res = KNNEvaluator(k=5)(bank, by, *_blobs(30, seed=2))
    assert res["top1"] > 0.9 and res["top5"] == 1.0


def test_linear_probe_matches_scikit_learn() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    x, y = _blobs(60, spread=3.0)
    l2 = 0.05
    layer = fit_linear_probe(x, y, l2=l2, max_iter=1000)
    # sklearn minimises C * sum CE + 0.5 ||W||^2 = N C * (mean CE + 0.5 / (N C) ||W||^2)
    ref = sklearn.LogisticRegression(C=1.0 / (l2 * 60), tol=1e-12, max_iter=10000).fit(x.double().numpy(), y.numpy())
    torch.testing.assert_close(layer.weight.detach(), torch.from_numpy(ref.coef_), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(layer.bias.detach(), torch.from_numpy(ref.intercept_), rtol=1e-3, atol=1e-4)
    acc = LinearProbe(l2=1e-3)(*_blobs(60), *_blobs(30, seed=4))
    assert acc["train_top1"] == 1.0 and acc["test_top1"] > 0.9


def test_large_vocab_full_softmax_is_cosine_cross_entropy() -> None:
    torch.manual_seed(0)
    head = LargeVocabClassifier(20, 6, temperature=0.05).double()
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randint(0, 20, (8,))
    logits = 20.0 * F.normalize(x, dim=-1) @ F.normalize(head.weight, dim=-1).T
    assert head(x, y).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-12)
    torch.testing.assert_close(head.logits(x), logits)


def test_large_vocab_sampled_softmax() -> None:
    torch.manual_seed(0)
    head = LargeVocabClassifier(1000, 6, num_sampled=50, seed=3).double()
    x, y = torch.randn(16, 6, dtype=torch.float64), torch.randint(0, 1000, (16,))
    classes = head.sample_classes(y)
    assert classes.numel() == 50 and set(y.tolist()) <= set(classes.tolist())
    assert torch.equal(classes, torch.sort(classes).values)
    loss = head(x, y)
    scored = 20.0 * F.normalize(x, dim=-1) @ F.normalize(head.weight[classes], dim=-1).T
    target = torch.tensor([classes.tolist().index(v) for v in y.tolist()])
    assert loss.item() == pytest.approx(F.cross_entropy(scored, target).item(), rel=1e-12)
    loss.backward()
    touched = head.weight.grad.abs().sum(1) > 0
    assert set(touched.nonzero().flatten().tolist()) == set(classes.tolist())
    assert int(head.step) == 1 and not torch.equal(head.sample_classes(y), classes)  # a new draw each step
    twin = LargeVocabClassifier(1000, 6, num_sampled=50, seed=3)
    twin.step.fill_(0)
    assert torch.equal(twin.sample_classes(y), classes)  # same seed and step: same draw on every rank
    with pytest.raises(ValueError, match="class ids"):
        head(x, torch.full((16,), 1000))
