"""Heads on cached view embeddings: they learn, view dropout and the shared trunk behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoloc.model import GEOCELL
from geoloc.model.heads import ClassificationHeads
from geoloc.train.heads import fit_heads, fuse_views


def _toy(n=600, c=6, v=4, d=16, seed=0):
    g = np.random.default_rng(seed)
    cent = np.c_[g.uniform(-50, 50, c), g.uniform(-150, 150, c)]
    cell = g.integers(0, c, n)
    lat, lon = cent[cell, 0] + g.normal(0, 1, n), cent[cell, 1] + g.normal(0, 1, n)
    proto = g.normal(0, 1, (c, d))
    emb = proto[cell][:, None, :] + g.normal(0, 0.8, (n, v, d))
    return emb.astype(np.float32), lat, lon, cell, cent


def test_fit_heads_learns_the_cells_and_skips_nan_rows():
    emb, lat, lon, cell, cent = _toy()
    emb[0, 2] = np.nan
    heads = ClassificationHeads(16, {GEOCELL: 6, "country": 2})
    country = (cell % 2).astype(np.int64)
    country[:50] = -1  # unknown labels are ignored
    out = fit_heads(heads, emb, lat, lon, {GEOCELL: cell, "country": country}, cent, epochs=150, seed=1)
    assert out["rows"] == len(cell) - 1
    with torch.no_grad():
        pred = heads(fuse_views(torch.from_numpy(emb[1:])))[GEOCELL].argmax(1).numpy()
    assert (pred == cell[1:]).mean() > 0.9


def test_fuse_views_is_the_mean_of_the_kept_views():
    e = torch.arange(24.0).view(2, 3, 4)
    keep = torch.tensor([[True, False, True], [False, True, False]])
    torch.testing.assert_close(fuse_views(e, keep), torch.stack([(e[0, 0] + e[0, 2]) / 2, e[1, 1]]))
    torch.testing.assert_close(fuse_views(e), e.mean(1))


def test_view_dropout_trains_heads_that_work_on_one_view():
    emb, lat, lon, cell, cent = _toy(seed=2)
    one = torch.from_numpy(emb[:, :1])
    accs = {}
    for drop in (0.0, 0.7):
        h = ClassificationHeads(16, {GEOCELL: 6})
        fit_heads(h, emb, lat, lon, {GEOCELL: cell}, cent, epochs=100, view_dropout=drop, seed=0)
        with torch.no_grad():
            accs[drop] = float((h(fuse_views(one))[GEOCELL].argmax(1).numpy() == cell).mean())
    assert accs[0.7] >= accs[0.0] - 0.02


def test_shared_trunk_couples_the_tasks_and_linear_heads_do_not():
    emb, lat, lon, cell, cent = _toy(seed=3)
    labels = {GEOCELL: cell, "country": (cell % 2).astype(np.int64)}
    geocell_weights = {}
    for hidden in (0, 8):
        runs = []
        for w in (0.0, 5.0):
            torch.manual_seed(0)
            h = ClassificationHeads(16, {GEOCELL: 6, "country": 2}, hidden=hidden)
            fit_heads(h, emb, lat, lon, labels, cent, epochs=2, weights={"country": w}, seed=0)
            runs.append(h.heads[GEOCELL].weight.detach().clone())
        geocell_weights[hidden] = runs
    # linear heads on a frozen embedding: the auxiliary weight cannot change the geocell head
    torch.testing.assert_close(geocell_weights[0][0], geocell_weights[0][1])
    assert not torch.allclose(geocell_weights[8][0], geocell_weights[8][1])
    with pytest.raises(ValueError, match="hidden"):
        ClassificationHeads(16, {GEOCELL: 6}, hidden=-1)
