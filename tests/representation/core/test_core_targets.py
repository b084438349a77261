import math

import numpy as np
import pytest
import torch

from geoloc.geo.distance import haversine_km
from representation.functional import soft_cross_entropy
from representation.targets import (
    haversine_kernel_targets,
    identity_targets,
    pigeon_geocell_targets,
    same_label_targets,
)
from representation.testing.reference import naive_haversine_km


def test_identity_targets_with_offset():
    t = identity_targets(3, 8, offset=2)
    for i in range(3):
        for j in range(8):
            assert t[i, j] == (1.0 if j == i + 2 else 0.0)
    with pytest.raises(ValueError):
        identity_targets(3, 4, offset=2)


def test_same_label_targets_loops_and_ignore():
    lq = torch.tensor([0, 1, 1, -1])
    lk = torch.tensor([1, 0, -1, 1, 2])
    t = same_label_targets(lq, lk, ignore_label=-1)
    for i in range(4):
        for j in range(5):
            want = float(lq[i] == lk[j] and lq[i] != -1)
            assert t[i, j] == want
    tup = same_label_targets(torch.tensor([[0, 1], [0, 2]]), torch.tensor([[0, 1], [0, 1], [0, 2]]))
    torch.testing.assert_close(tup, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    # symmetry for identical sets; one-hot labels reduce to identity
    lab = torch.tensor([3, 1, 4, 1, 5])
    s = same_label_targets(lab, lab)
    torch.testing.assert_close(s, s.T)
    torch.testing.assert_close(same_label_targets(torch.arange(4), torch.arange(4)), identity_targets(4, 4))


def _pts(n, seed):
    g = torch.Generator().manual_seed(seed)
    lat = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 80
    lon = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 180
    return lat, lon


def test_haversine_kernel_is_softmax_of_negative_km():
    lat_q, lon_q = _pts(4, 1)
    lat_k, lon_k = _pts(6, 2)
    tau = 500.0
    t = haversine_kernel_targets(lat_q, lon_q, lat_k, lon_k, tau)
    for i in range(4):
        w = [math.exp(-naive_haversine_km(float(lat_q[i]), float(lon_q[i]), float(lat_k[j]), float(lon_k[j])) / tau)
             for j in range(6)]
        for j in range(6):
            assert float(t[i, j]) == pytest.approx(w[j] / sum(w), rel=1e-6, abs=1e-300)
    torch.testing.assert_close(t.sum(1), torch.ones(4, dtype=torch.float64))
    # un-normalised form has the same row normalisation -> same soft CE
    raw = haversine_kernel_targets(lat_q, lon_q, lat_k, lon_k, tau, normalize=False)
    assert bool((raw.max(1).values == 1).all())
    logits = torch.randn(4, 6, dtype=torch.float64)
    torch.testing.assert_close(soft_cross_entropy(logits, raw), soft_cross_entropy(logits, t))


def test_haversine_kernel_symmetric_no_underflow_and_nan_rows():
    lat, lon = _pts(5, 3)
    t = haversine_kernel_targets(lat, lon, lat, lon, 50.0, normalize=False)
    torch.testing.assert_close(t, t.T)  # rows' minimum is the 0 km diagonal
    far = haversine_kernel_targets(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0, 10.0]),
                                   torch.tensor([179.0, 179.5]), 10.0)  # ~19,900 km, tau 10 km
    assert bool(torch.isfinite(far).all()) and float(far.sum()) == pytest.approx(1.0)
    lat = lat.float().clone()
    lat[2] = float("nan")
    t = haversine_kernel_targets(lat, lon.float(), lat, lon.float(), 100.0)
    assert bool((t[2] == 0).all()) and bool((t[:, 2] == 0).all()) and bool(torch.isfinite(t).all())


def test_pigeon_targets_paper_form_with_true_cell():
    lat, lon = _pts(5, 4)
    cell_lat, cell_lon = _pts(7, 5)
    true = torch.tensor([0, 3, 6, 2, 2])
    tau = 75.0
    y = pigeon_geocell_targets(lat, lon, cell_lat, cell_lon, true, tau)
    d = haversine_km(lat.numpy()[:, None], lon.numpy()[:, None], cell_lat.numpy()[None], cell_lon.numpy()[None])
    for i in range(5):
        for c in range(7):
            want = math.exp(-(d[i, c] - d[i, int(true[i])]) / tau)
            if math.isinf(want):
                want = 0.0
            assert float(y[i, c]) == pytest.approx(want, rel=1e-6)
        assert float(y[i, int(true[i])]) == 1.0


def test_pigeon_targets_differ_from_nearest_form_and_clean_nan_inf():
    # sample at (0, 0); cell 0 centroid is nearer than the true cell 1
    lat, lon = torch.tensor([0.0, float("nan")]), torch.tensor([0.0, 0.0])
    cell_lat, cell_lon = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 2.0])
    y = pigeon_geocell_targets(lat, lon, cell_lat, cell_lon, torch.tensor([1, 0]), 75.0)
    assert float(y[0, 1]) == 1.0 and float(y[0, 0]) > 1.0  # nearest-centroid form would give 1 at cell 0
    assert bool((y[1] == 0).all())
    # tiny tau overflows exp -> set to 0 instead of inf
    y = pigeon_geocell_targets(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0, 0.0]),
                               torch.tensor([0.0, 50.0]), torch.tensor([1]), 1e-3)
    assert float(y[0, 0]) == 0.0 and float(y[0, 1]) == 1.0
    with pytest.raises(ValueError):
        pigeon_geocell_targets(lat, lon, cell_lat, cell_lon, torch.tensor([0, 2]), 75.0)
    # used as PIGEON's un-normalised CE
    assert np.isfinite(float(soft_cross_entropy(torch.randn(1, 2), y, normalize_targets=False)))
