"""Prior-fused zero-shot: the log-linear posterior, its maximum-likelihood fit, calibration files, priors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from geoloc.errors import GeolocError, InputFileError
from geoloc.zeroshot.fusion import (
    FEATURES,
    Fusion,
    _nll_grad_hess,
    fit_fusion,
    log_posterior,
    nll,
    stack_features,
)


def _simulated(n=4000, c=15, w=(20.0, 6.0, 9.0, 1.0), seed=0):
    """Features drawn at random and true cells drawn from the model itself with weights ``w``."""
    rng = np.random.default_rng(seed)
    cos = rng.normal(0.0, 0.1, size=(n, c, 3))
    log_prior = np.log(rng.dirichlet(np.ones(c) * 0.7))
    f = stack_features(cos[..., 0], cos[..., 1], cos[..., 2], log_prior)
    p = np.exp(log_posterior(f, np.array(w)))
    y = np.array([rng.choice(c, p=row) for row in p])
    return f, y


def test_log_posterior_equals_a_float64_loop():
    f, _ = _simulated(n=5, c=6)
    w = np.array([30.0, -2.0, 4.5, 0.7])
    got = np.exp(log_posterior(f, w))
    for i in range(5):
        z = [sum(w[k] * f[i, c, k] for k in range(4)) for c in range(6)]
        mx = max(z)
        ref = [math.exp(v - mx) for v in z]
        np.testing.assert_allclose(got[i], [r / sum(ref) for r in ref], rtol=1e-12)
    # the form: log_softmax(s / T) + lambda log prior, renormalised, is the same model
    s, t, lam = f[..., 0], 0.05, 0.6
    a = np.log(np.exp(s / t) / np.exp(s / t).sum(1, keepdims=True)) + lam * f[0, :, 3]
    a = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    np.testing.assert_allclose(np.exp(log_posterior(f, np.array([1 / t, 0, 0, lam]))), a, rtol=1e-10)


def test_gradient_and_hessian_equal_finite_differences():
    f, y = _simulated(n=200, c=8, seed=1)
    w = np.array([10.0, 3.0, -1.0, 0.5])
    value, grad, hess = _nll_grad_hess(f, y, w, 1e-3)
    assert value == pytest.approx(nll(f, y, w, 1e-3), rel=1e-12)
    eps = 1e-5
    for k in range(4):
        d = np.zeros(4)
        d[k] = eps
        fd = (nll(f, y, w + d, 1e-3) - nll(f, y, w - d, 1e-3)) / (2 * eps)
        assert grad[k] == pytest.approx(fd, rel=1e-5, abs=1e-8)
        gp, gm = _nll_grad_hess(f, y, w + d, 1e-3)[1], _nll_grad_hess(f, y, w - d, 1e-3)[1]
        np.testing.assert_allclose(hess[:, k], (gp - gm) / (2 * eps), rtol=1e-4, atol=1e-7)
    assert np.all(np.linalg.eigvalsh(hess) > 0)  # convex


def test_fit_recovers_the_weights_that_generated_the_data():
    true = np.array([20.0, 6.0, 9.0, 1.0])
    f, y = _simulated(w=tuple(true))
    fitted, info = fit_fusion(f, y, Fusion(cell=1.0, prior_source="density"))
    assert info["nll"] < info["nll_start"]
    np.testing.assert_allclose(fitted.weights(), true, rtol=0.2)
    # convex: another start ends at the same optimum; the gradient vanishes there
    other, _ = fit_fusion(f, y, Fusion(cell=50.0, admin1=-5.0, country=0.0, prior=3.0, prior_source="density"))
    np.testing.assert_allclose(other.weights(), fitted.weights(), rtol=1e-6, atol=1e-6)
    assert np.linalg.norm(_nll_grad_hess(f, y, fitted.weights(), 1e-6)[1]) < 1e-6
    assert fitted.prior_source == "density"


def test_fit_of_a_subset_keeps_the_other_weights():
    f, y = _simulated(n=1500, seed=2)
    start = Fusion(cell=5.0, admin1=1.0, country=2.0, prior=0.0, prior_source="cells")
    fitted, info = fit_fusion(f, y, start, fit=("cell", "prior"))
    assert (fitted.admin1, fitted.country) == (1.0, 2.0)
    assert fitted.cell != 5.0 and fitted.prior != 0.0 and info["nll"] < info["nll_start"]
    # the optimum of the subset: no better point along either free coordinate
    for k, step in ((0, 0.01), (3, 0.001)):
        d = np.zeros(4)
        d[k] = step
        assert nll(f, y, fitted.weights()) <= min(nll(f, y, fitted.weights() + d), nll(f, y, fitted.weights() - d))
    with pytest.raises(GeolocError, match="unknown fusion features"):
        fit_fusion(f, y, start, fit=("temperature",))
    with pytest.raises(GeolocError, match="true cells"):
        fit_fusion(f, y + 100, start)


def test_fusion_file_round_trip_and_errors(tmp_path):
    fz = Fusion(cell=31.5, admin1=2.0, country=4.0, prior=0.9, prior_source="density", note="x",
                fitted={"geocells_id": "abc", "n": 10})
    path = fz.save(tmp_path / "cal.json")
    assert Fusion.load(path) == fz and json.loads(path.read_text())["format"] == "geoloc-zeroshot-fusion/1"
    with pytest.raises(InputFileError, match="does not exist"):
        Fusion.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        Fusion.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputFileError, match="not a zero-shot calibration file"):
        Fusion.load(tmp_path / "other.json")
    with pytest.raises(GeolocError, match="unknown prior"):
        Fusion(cell=1.0, prior_source="flat")
    with pytest.raises(GeolocError, match="finite"):
        Fusion(cell=float("nan"))
    assert list(FEATURES) == ["cell", "admin1", "country", "prior"]


def test_bf16_and_float32_features_give_the_same_posterior():
    """The softmax runs in float64 whatever precision the cosines come in (bf16 CUDA towers)."""
    import torch

    f, _ = _simulated(n=50, c=30, seed=3)
    w = np.array([100.0, 30.0, 30.0, 1.0])
    ref = log_posterior(f, w)
    for dtype in (torch.float32, torch.bfloat16):
        low = torch.as_tensor(f[..., :3]).to(dtype).double().numpy()
        got = log_posterior(stack_features(low[..., 0], low[..., 1], low[..., 2], f[0, :, 3]), w)
        assert np.all(np.isfinite(got))
        tol = 1e-5 if dtype == torch.float32 else 1.0  # bf16 cosines: 3 significant digits, times 100
        np.testing.assert_allclose(got, ref, atol=tol)


def test_calibration_on_held_out_locations_and_its_file(tiny_clip, toy_cells, cells_factory, tmp_path):
    from geoloc.zeroshot import ZeroShotGeolocator
    from geoloc.zeroshot.calibrate import calibrate_embeddings
    from geoloc.zeroshot.synthetic import colour_images

    zs = ZeroShotGeolocator(tiny_clip, toy_cells, towns=False, progress=False)
    imgs = colour_images(np.arange(24) % 4, 4, seed=1)
    lat = toy_cells.centroids[np.arange(24) % 8, 0] + 0.1
    lon = toy_cells.centroids[np.arange(24) % 8, 1] - 0.1
    emb, errors = zs.embed(imgs)
    assert emb.shape == (24, zs.cell_text.shape[1]) and errors == [None] * 24
    fitted, info = calibrate_embeddings(zs, emb, lat, lon, source="held-out.csv")
    assert info["nll"] <= info["nll_start"] + 1e-12
    assert fitted.fitted["geocells_id"] == zs.geocells_id and fitted.fitted["n"] == 24
    assert "maximum likelihood on 24 held-out locations of held-out.csv" in fitted.note
    path = fitted.save(tmp_path / "cal.json")
    again = ZeroShotGeolocator(tiny_clip, toy_cells, towns=False, fusion=path, progress=False)
    assert again.fusion == fitted
    np.testing.assert_allclose(again.cell_probabilities(emb), np.exp(log_posterior(zs.features(emb),
                                                                                    fitted.weights())), rtol=1e-12)
    other = cells_factory([("Somewhere", "FRA", "France", "FRA-1", "Somewhere", 45.0, 3.0)])
    with pytest.raises(GeolocError, match="fitted for geocell set"):
        ZeroShotGeolocator(tiny_clip, other, towns=False, fusion=path, progress=False)
