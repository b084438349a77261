"""Fine-tuning: the paper-form soft targets reach the loss, resume is bit-identical, DDP == 1 process."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoloc.model import GeoModel, GeoModelConfig
from geoloc.train.data import LocationImages, load_locations
from geoloc.train.embed import model_transform
from geoloc.train.finetune import GeocellTrainingLoss, finetune
from geoloc.train.presets import get_preset

R_KM = 6371.0088


def _hav(lat1, lon1, lat2, lon2):
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_KM * math.asin(math.sqrt(min(1.0, a)))


def _naive_loss(logits, lat, lon, cells, cent, tau, normalize):
    """-sum_c y_c log softmax_c, y_c = exp(-(d_c - d_true)/tau) (the paper), divided by sum_c y_c when
    ``normalize``; mean over rows (float64 loop)."""
    total = 0.0
    for i in range(logits.shape[0]):
        d = [_hav(lat[i], lon[i], cent[c][0], cent[c][1]) for c in range(len(cent))]
        y = [math.exp(-(dc - d[cells[i]]) / tau) for dc in d]
        if normalize:
            s = sum(y)
            y = [v / s for v in y]
        lse = torch.logsumexp(logits[i], 0)
        total = total - sum(y[c] * (logits[i, c] - lse) for c in range(len(cent)))
    return total / logits.shape[0]


@pytest.mark.parametrize("form", ["paper", "softmax"])
def test_soft_targets_reach_the_loss_with_gradients(form):
    normalize = form == "softmax"
    rng = np.random.default_rng(0)
    cent = np.array([[48.8, 2.3], [45.7, 4.8], [43.3, 5.4], [50.8, 4.4], [40.4, -3.7]])
    lat = np.array([48.0, 44.9, 43.5, 50.0, 46.0])
    lon = np.array([2.0, 4.9, 5.0, 4.0, 3.0])
    cells = np.array([0, 1, 2, 3, 1])          # the last point's true cell is not its nearest
    logits = torch.tensor(rng.normal(size=(5, 5)), dtype=torch.float64, requires_grad=True)
    loss_fn = GeocellTrainingLoss(cent, tau_km=75.0, smooth=True, target_form=form)
    batch = {"lat": torch.tensor(lat, dtype=torch.float32), "lon": torch.tensor(lon, dtype=torch.float32),
             "cell": torch.tensor(cells), "ok": torch.ones(5, dtype=torch.bool)}
    ours = loss_fn({"geocell": logits}, batch)["geocell_loss"]
    (g_ours,) = torch.autograd.grad(ours, logits)
    ref_logits = logits.detach().clone().requires_grad_(True)
    ref = _naive_loss(ref_logits, lat, lon, cells, cent, 75.0, normalize)
    (g_ref,) = torch.autograd.grad(ref, ref_logits)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=2e-4)
    assert torch.allclose(g_ours.double(), g_ref, rtol=2e-4, atol=1e-6)
    onehot = GeocellTrainingLoss(cent, smooth=False)({"geocell": logits}, batch)["geocell_loss"]
    assert float(onehot.detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, batch["cell"]).detach()))


def test_failed_rows_and_unknown_aux_labels_are_left_out():
    cent = np.array([[0.0, 0.0], [10.0, 10.0]])
    logits = torch.randn(4, 2)
    aux = torch.randn(4, 3)
    batch = {"lat": torch.tensor([0.0, 10.0, 1.0, 9.0]), "lon": torch.tensor([0.0, 10.0, 1.0, 9.0]),
             "cell": torch.tensor([0, 1, 0, 1]), "ok": torch.tensor([True, True, False, True]),
             "country": torch.tensor([2, -1, 1, 0])}
    out = GeocellTrainingLoss(cent, smooth=False, weights={"country": 0.5})({"geocell": logits, "country": aux},
                                                                            batch)
    keep = torch.tensor([0, 1, 3])
    assert float(out["geocell_loss"]) == pytest.approx(float(torch.nn.functional.cross_entropy(
        logits[keep], batch["cell"][keep])))
    known = torch.tensor([0, 3])
    assert float(out["country_loss"]) == pytest.approx(0.5 * float(torch.nn.functional.cross_entropy(
        aux[known], batch["country"][known])))


def _old_training_loss(loss: GeocellTrainingLoss, features, batch):
    """The loss as it was before issue 18: boolean-mask indexing and bool() checks of device tensors
    (each a host synchronisation). The reference the masked, sync-free version must reproduce."""
    from geoloc.model import geocell_loss

    logits = features["geocell"]
    ok = batch["ok"].bool()
    out = {}
    if bool(ok.any()):
        cell_l = geocell_loss(logits[ok], batch["lat"][ok], batch["lon"][ok], batch["cell"][ok], loss.centroids,
                              tau_km=loss.tau_km, smooth=loss.smooth, target_form=loss.target_form)
    else:
        cell_l = logits.sum() * 0.0
    out["geocell_loss"] = loss.weights.get("geocell", 1.0) * cell_l
    for task, task_logits in features.items():
        if task in ("geocell", "embedding") or task not in batch:
            continue
        y = batch[task].long()
        known = ok & (y >= 0)
        term = (torch.nn.functional.cross_entropy(task_logits[known], y[known]) if bool(known.any())
                else task_logits.sum() * 0.0)
        out[f"{task}_loss"] = loss.weights.get(task, 1.0) * term
    return out


@pytest.mark.parametrize("form", ["softmax", "nearest", "paper", "onehot"])
@pytest.mark.parametrize("case", ["all_ok", "some_failed", "none_ok"])
def test_sync_free_loss_equals_the_indexing_formulation(form, case):
    """Issue 18: masked means instead of boolean indexing: the same values and gradients (bit for bit
    when every row counts, float summation order otherwise), also with no row left."""
    cent = np.array([[0.0, 0.0], [10.0, 10.0], [-30.0, 100.0], [45.0, -70.0]])
    n = 7
    lat = torch.tensor([1.0, 9.0, -29.0, 44.0, 2.0, 11.0, -31.0])
    lon = torch.tensor([1.0, 11.0, 99.0, -71.0, 0.0, 9.0, 101.0])
    batch = {"lat": lat, "lon": lon, "cell": torch.tensor([0, 1, 2, 3, 0, 1, 2]),
             "country": torch.tensor([2, -1, 1, 0, -1, 2, 1]),
             "ok": {"all_ok": torch.ones(n, dtype=torch.bool),
                    "some_failed": torch.tensor([True, False, True, True, False, True, True]),
                    "none_ok": torch.zeros(n, dtype=torch.bool)}[case]}
    if case == "all_ok":
        batch["country"] = torch.tensor([2, 0, 1, 0, 1, 2, 1])
    kw = {"smooth": form != "onehot", "target_form": "softmax" if form == "onehot" else form,
          "weights": {"country": 0.5, "geocell": 1.5}}
    loss = GeocellTrainingLoss(cent, **kw)
    results = []
    for fn in (lambda f: loss(f, batch), lambda f: _old_training_loss(loss, f, batch)):
        cell = torch.randn(n, 4, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        aux = torch.randn(n, 3, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
        out = fn({"geocell": cell, "country": aux})
        total = out["geocell_loss"] + out["country_loss"]
        total.backward()
        results.append((out["geocell_loss"].detach(), out["country_loss"].detach(), cell.grad, aux.grad))
    (a_cell, a_aux, a_gc, a_ga), (b_cell, b_aux, b_gc, b_ga) = results
    if case == "all_ok" and form != "onehot":
        assert torch.equal(a_cell, b_cell) and torch.equal(a_gc, b_gc)
    for x, y in ((a_cell, b_cell), (a_aux, b_aux), (a_gc, b_gc), (a_ga, b_ga)):
        torch.testing.assert_close(x.double(), y.double(), rtol=1e-6, atol=1e-7)


def _setup(manifest, views=1):
    from geoloc.cells.baselines import grid_cells

    locs = load_locations(manifest, views=views)
    cells = grid_cells(60.0, locs.lat, locs.lon)
    labels = {"cell": cells.assign(locs.lat, locs.lon)}
    torch.manual_seed(0)
    net = GeoModel(GeoModelConfig(num_cells=len(cells), aux_heads={}))
    ds = LocationImages(locs, model_transform(net), labels=labels, progress=False)
    return net, ds, cells


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_resume_after_stop_is_bit_identical(toy_data, tmp_path):
    preset = get_preset("synthworld-tiny", finetune_steps=6, batch_size=8, warmup_steps=2, checkpoint_every=100,
                        views=1)
    net, ds, cells = _setup(toy_data["train"])
    finetune(net, ds, cells.centroids, preset, tmp_path / "a", progress=False)
    full = _state(net)
    net2, _, _ = _setup(toy_data["train"])
    finetune(net2, ds, cells.centroids, preset, tmp_path / "b", progress=False, stop_at_step=3)
    net3, _, _ = _setup(toy_data["train"])
    torch.nn.init.normal_(net3.heads.heads["geocell"].weight)   # resume must overwrite everything
    res = finetune(net3, ds, cells.centroids, preset, tmp_path / "b", progress=False)
    assert res["step"] == 6
    assert all(torch.equal(full[k], v) for k, v in _state(net3).items())


def ddp_finetune_worker(rank, world, manifest, out_dir, batch, steps):
    """Module-level DDP worker (run_ddp pickles it by reference)."""
    preset = get_preset("synthworld-tiny", finetune_steps=steps, batch_size=batch, warmup_steps=1,
                        checkpoint_every=100, views=1, device="cpu", lr=1e-3)
    net, ds, cells = _setup(manifest)
    finetune(net, ds, cells.centroids, preset, out_dir, progress=False)
    return {k: v.numpy() for k, v in net.state_dict().items()}


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(toy_data, tmp_path):
    from representation.testing import run_ddp

    one = ddp_finetune_worker(0, 1, toy_data["train"], tmp_path / "one", 16, 4)
    # batch_size is the global batch: 2 ranks x 8
    two = run_ddp(ddp_finetune_worker, world_size=2, args=(toy_data["train"], str(tmp_path / "two"), 16, 4))
    init = {k: v.numpy() for k, v in _setup(toy_data["train"])[0].state_dict().items()}
    moved = max(float(np.abs(v - init[k]).max()) for k, v in one.items())
    assert moved > 1e-3                    # 4 AdamW steps of lr 1e-3 moved the weights
    for k, v in one.items():
        # float32 sums in a different order; AdamW's m / sqrt(v) amplifies that for ~0 gradients
        np.testing.assert_allclose(two[0][k], v, rtol=1e-4, atol=1e-5, err_msg=k)
        np.testing.assert_array_equal(two[0][k], two[1][k])


def test_train_views_feed_a_random_subset_in_training_and_all_views_in_eval():
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.finetune import BatchGeoModel

    net = GeoModel(GeoModelConfig(num_cells=3))
    seen = []
    net.embed = lambda images, valid=None: seen.append(images.shape) or torch.zeros(images.shape[0], net.embed_dim)
    model = BatchGeoModel(net, train_views=2)
    x = torch.randn(5, 4, 3, 64, 64)
    model.train()
    model({"images": x})
    model.eval()
    model({"images": x})
    assert seen == [torch.Size([5, 2, 3, 64, 64]), torch.Size([5, 4, 3, 64, 64])]
    torch.manual_seed(3)
    a = torch.rand(5, 4).argsort(1)[:, :2]
    torch.manual_seed(3)
    picked = []
    net.embed = lambda images, valid=None: picked.append(images) or torch.zeros(images.shape[0], net.embed_dim)
    model.train()
    model({"images": x})
    torch.testing.assert_close(picked[0], x[torch.arange(5)[:, None], a])  # the global generator's draw


def test_loader_workers_train_exactly_like_the_main_process(toy_data, tmp_path):
    """Issue 18: DataLoader workers (persistent across epochs, the batch sampler re-pointed per epoch)
    feed the same batches in the same order: 2 workers over an epoch boundary and a stop + resume end
    on the weights of the in-process loader, bit for bit."""
    preset = get_preset("synthworld-tiny", finetune_steps=9, batch_size=16, warmup_steps=1, checkpoint_every=100,
                        views=1, train_views=None)
    net, ds, cells = _setup(toy_data["train"])
    finetune(net, ds, cells.centroids, preset, tmp_path / "w0", progress=False)
    ref = _state(net)
    workers = preset.replace(num_workers=2)
    net2, ds2, _ = _setup(toy_data["train"])
    ds2.cache = None  # stream from the files in the workers
    finetune(net2, ds2, cells.centroids, workers, tmp_path / "w2", progress=False, stop_at_step=5)
    net3, _, _ = _setup(toy_data["train"])
    finetune(net3, ds2, cells.centroids, workers, tmp_path / "w2", progress=False)
    assert all(torch.equal(ref[k], v) for k, v in _state(net3).items())
