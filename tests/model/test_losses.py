"""Geocell loss: equals a naive per-sample loop of PIGEON's paper formula; one-hot ablation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoloc.geo.distance import haversine_km
from geoloc.model import geocell_loss, multitask_loss


def _naive(logits, lat, lon, true_cell, cent, tau):
    total = 0.0
    for i in range(logits.shape[0]):
        logp = torch.log_softmax(logits[i].double(), 0)
        d = [haversine_km(lat[i], lon[i], cent[c, 0], cent[c, 1]) for c in range(cent.shape[0])]
        d_true = d[int(true_cell[i])]
        total += -sum(math.exp(-(d[c] - d_true) / tau) * float(logp[c]) for c in range(len(d)))
    return total / logits.shape[0]


def _batch(seed=0, b=6, c=9):
    g = np.random.default_rng(seed)
    cent = np.c_[g.uniform(40, 50, c), g.uniform(0, 15, c)]
    lat, lon = g.uniform(40, 50, b), g.uniform(0, 15, b)
    d = np.array([[haversine_km(a, o, *cc) for cc in cent] for a, o in zip(lat, lon)])
    # true cell: the nearest centroid, except one sample whose "true" cell is its 2nd nearest
    true = d.argmin(1)
    true[0] = np.argsort(d[0])[1]
    logits = torch.randn(b, c, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    return logits, torch.tensor(lat), torch.tensor(lon), torch.tensor(true), cent


@pytest.mark.parametrize("tau", [75.0, 300.0])
def test_paper_form_loss_equals_naive_loop(tau):
    logits, lat, lon, true, cent = _batch()
    got = geocell_loss(logits, lat.float(), lon.float(), true, cent, tau_km=tau, target_form="paper")
    want = _naive(logits.detach(), lat.numpy(), lon.numpy(), true, cent, tau)
    assert got.item() == pytest.approx(want, rel=1e-4)
    got.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def _naive_softmax(logits, lat, lon, cent, tau):
    total = 0.0
    for i in range(logits.shape[0]):
        logp = torch.log_softmax(logits[i].double(), 0)
        d = [haversine_km(lat[i], lon[i], cent[c, 0], cent[c, 1]) for c in range(cent.shape[0])]
        w = [math.exp(-(x - min(d)) / tau) for x in d]
        total += -sum(w[c] / sum(w) * float(logp[c]) for c in range(len(d)))
    return total / logits.shape[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_default_loss_is_the_normalised_form_and_stable_with_far_large_cells(dtype):
    # PIGEON-sized failure: samples thousands of km from their (huge) true cell's centroid
    g = np.random.default_rng(4)
    cent = np.c_[g.uniform(-60, 70, 40), g.uniform(-180, 180, 40)]
    lat, lon = g.uniform(-60, 70, 8), g.uniform(-180, 180, 8)
    d = np.array([[haversine_km(a, o, *c) for c in cent] for a, o in zip(lat, lon)])
    true = torch.tensor(np.argsort(d, 1)[:, -1])  # the FARTHEST cell as the true one
    logits = torch.randn(8, 40, generator=torch.Generator().manual_seed(1)).to(dtype).requires_grad_()
    got = geocell_loss(logits, torch.tensor(lat).to(dtype), torch.tensor(lon).to(dtype), true, cent, tau_km=75.0)
    assert torch.isfinite(got)
    want = _naive_softmax(logits.detach().float(), torch.tensor(lat).to(dtype).double().numpy(),
                          torch.tensor(lon).to(dtype).double().numpy(), cent, 75.0)
    assert got.item() == pytest.approx(want, rel=2e-3)
    got.backward()
    assert bool(torch.isfinite(logits.grad.float()).all())


def test_true_cell_not_nearest_uses_true_cell_distance():
    # paper form: target of the true cell is exactly 1; nearer cells get > 1
    _logits, lat, lon, true, cent = _batch()
    from geoloc.model import haversine_smoothed_targets

    y = haversine_smoothed_targets(lat.float(), lon.float(), true, torch.tensor(cent, dtype=torch.float32), 75.0,
                                   form="paper")
    torch.testing.assert_close(y[torch.arange(len(true)), true], torch.ones(len(true), dtype=y.dtype))
    assert y[0].max() > 1.0


def test_unsmoothed_is_one_hot_ce():
    logits, lat, lon, true, cent = _batch(seed=1)
    got = geocell_loss(logits, lat, lon, true, cent, smooth=False)
    torch.testing.assert_close(got, F.cross_entropy(logits, true))


def test_small_tau_approaches_one_hot_when_true_cell_is_nearest():
    logits, lat, lon, true, cent = _batch(seed=2)
    keep = torch.arange(1, len(true))  # drop the sample whose true cell is not the nearest
    a = geocell_loss(logits[keep], lat[keep], lon[keep], true[keep], cent, tau_km=1e-3)
    b = F.cross_entropy(logits[keep], true[keep])
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_multitask_weights_and_unknown_labels():
    logits, lat, lon, true, cent = _batch(seed=3)
    country = torch.randn(len(true), 3)
    out = {"embedding": torch.zeros(len(true), 4), "geocell": logits, "country": country}
    labels = {"geocell": true, "country": torch.tensor([0, 1, -1, 2, -1, 0])}
    total, parts = multitask_loss(out, lat, lon, labels, cent, weights={"country": 0.25})
    known = labels["country"] >= 0
    torch.testing.assert_close(parts["country"], F.cross_entropy(country[known], labels["country"][known]))
    torch.testing.assert_close(total, parts["geocell"] + 0.25 * parts["country"])
    labels["country"] = torch.full((len(true),), -1)
    _total2, parts2 = multitask_loss(out, lat, lon, labels, cent)
    assert parts2["country"].item() == 0.0


def test_bad_centroid_shape():
    logits, lat, lon, true, cent = _batch()
    with pytest.raises(ValueError, match="cell_centroids"):
        geocell_loss(logits, lat, lon, true, cent[:3])
