import math

import numpy as np
import pytest
import torch

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


def _reference_targets(d, true, tau, form):
    """float64 loops of PIGEON's formulations: the paper's equation (subtract the distance to the TRUE
    cell), the reference code's ``smooth_labels`` (subtract the NEAREST centroid's distance), and the
    normalised targets y / sum(y)."""
    n, c = d.shape
    out = np.zeros((n, c))
    for i in range(n):
        if form == "paper":
            base = d[i, true[i]]
        else:
            base = min(d[i])
        for j in range(c):
            out[i, j] = math.exp(-(d[i, j] - base) / tau)
        if form == "softmax":
            out[i] /= sum(out[i])
    return out


@pytest.mark.parametrize("form", ["softmax", "nearest", "paper"])
def test_geocell_targets_equal_the_reference_formulations(form):
    g = np.random.default_rng(0)
    d = g.uniform(0, 2000, (6, 9))
    true = np.array([0, 3, 8, 2, 2, 5])
    y = pigeon_geocell_targets(torch.tensor(d), torch.tensor(true), 75.0, form)
    np.testing.assert_allclose(y.numpy(), _reference_targets(d, true, 75.0, form), rtol=1e-10)
    if form == "paper":
        assert bool((y[torch.arange(6), torch.tensor(true)] == 1).all()) and float(y.max()) > 1
    if form == "nearest":
        assert float(y.max()) == 1.0 and bool((y.max(1).values == 1).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_softmax_targets_are_stable_for_far_large_cells(dtype):
    # the true cell's centroid is 9,000 km away (a huge cell), other centroids nearer and farther:
    # the paper form would give exp(8,900 / 75) ~ 1e51 (inf in float32, then 0 after nan_to_num)
    d64 = np.array([[9000.0, 100.0, 5000.0, 19000.0], [50.0, 12000.0, 20000.0, 300.0]])
    true = torch.tensor([0, 1])
    y = pigeon_geocell_targets(torch.tensor(d64).to(dtype), true, 75.0, "softmax")
    assert y.dtype == torch.float32 and bool(torch.isfinite(y).all())
    assert y.argmax(1).tolist() == d64.argmin(1).tolist()  # the nearest cell gets the largest weight
    ref = _reference_targets(torch.tensor(d64).to(dtype).double().numpy(), true.numpy(), 75.0, "softmax")
    np.testing.assert_allclose(y.double().numpy(), ref, rtol=1e-5, atol=1e-30)
    logits = torch.zeros(2, 4, dtype=dtype, requires_grad=True)
    loss = soft_cross_entropy(logits.float(), y)
    loss.backward()
    assert bool(torch.isfinite(logits.grad).all())
    # the reference code's form is bounded too
    yn = pigeon_geocell_targets(torch.tensor(d64).to(dtype), true, 75.0, "nearest")
    assert bool(torch.isfinite(yn).all()) and float(yn.max()) == 1.0


def test_paper_form_is_finite_in_float64_and_unknown_rows_get_no_weight():
    d = torch.tensor([[20000.0, 10.0], [float("nan"), float("nan")], [5.0, float("inf")]])
    y = pigeon_geocell_targets(d, torch.tensor([0, 1, 0]), 75.0, "paper")
    assert y.dtype == torch.float64 and bool(torch.isfinite(y).all())
    assert float(y[0, 1]) == pytest.approx(math.exp((20000.0 - 10.0) / 75.0), rel=1e-9)
    assert bool((y[1] == 0).all()) and float(y[2, 1]) == 0.0 and float(y[2, 0]) == 1.0
    for form in ("softmax", "nearest"):
        yy = pigeon_geocell_targets(d, torch.tensor([0, 1, 0]), 75.0, form)
        assert bool((yy[1] == 0).all()) and float(yy[2, 0]) == 1.0
    with pytest.raises(ValueError, match="out of range"):
        pigeon_geocell_targets(d, torch.tensor([0, 2, 0]), 75.0, "paper")
    with pytest.raises(ValueError, match="form"):
        pigeon_geocell_targets(d, None, 75.0, "nope")
    # used as PIGEON's un-normalised CE
    assert np.isfinite(float(soft_cross_entropy(torch.randn(3, 2, dtype=torch.float64), y,
                                                normalize_targets=False)))
