"""Issue 18: inference runs the tower in bf16 autocast on CUDA by default; predictions match fp32
within tolerance and refinement stays float32 (its nearest-member choice is unaffected).

CPU autocast supports bf16, so the same code path is checked here on the CPU with
``precision="bf16"`` (on CUDA that is what ``precision="auto"`` picks). The model is the shipped
default model (trained, so its probabilities are peaked, unlike a random model's) on a few
SynthWorld scenes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from geoloc.model.precision import inference_autocast, resolve_precision


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from geoloc.default_model import default_model_path
    from geoloc.predict import Geolocator
    from geoloc.synth import generate_dataset

    folder = tmp_path_factory.mktemp("scenes")
    man = generate_dataset(12, folder, size=64, views=4, seed=3, progress=False)
    geo = Geolocator.from_pretrained(default_model_path(), device="cpu", precision="fp32")
    items = [[str(folder / p) for p in g.sort_values("view")["path"]] for _, g in man.groupby("id", sort=True)]
    pixels = torch.stack([torch.stack([geo.transform(Image.open(p).convert("RGB")) for p in views])
                          for views in items])
    return {"geo": geo, "items": items, "pixels": pixels, "path": default_model_path()}


def test_auto_is_bf16_on_cuda_only():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda", 0)) == "bf16"
    with pytest.raises(ValueError):
        resolve_precision("fp8", torch.device("cpu"))


def _both_precisions(scenes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fp32 embeddings, fp32 probabilities, bf16 embeddings, bf16 probabilities) of the scenes."""
    geo = scenes["geo"]
    emb32, p32, _, _ = geo.forward(scenes["pixels"])
    geo.precision = "bf16"
    try:
        emb16, p16, _, _ = geo.forward(scenes["pixels"])
    finally:
        geo.precision = "fp32"
    return emb32, p32, emb16, p16


def test_bf16_forward_matches_fp32(scenes):
    emb32, p32, emb16, p16 = _both_precisions(scenes)
    assert emb16.dtype == np.float32 and p16.dtype == np.float64  # heads and softmax in float32 / 64
    assert not np.array_equal(emb16, emb32), "bf16 autocast must actually change the tower's arithmetic"
    cos = (emb16 * emb32).sum(1) / np.linalg.norm(emb16, axis=1) / np.linalg.norm(emb32, axis=1)
    assert cos.min() > 0.999
    np.testing.assert_allclose(p16.sum(1), 1.0, atol=1e-12)
    assert np.abs(p16 - p32).max() < 0.02
    assert (p16.argmax(1) == p32.argmax(1)).all()


def test_refinement_is_float32_inside_autocast_and_keeps_the_nearest_member(scenes):
    """Prototypes from the fp32 embeddings of the scenes, then each scene refined with its bf16 and
    its fp32 embedding: the same member is chosen. And refining inside an outer bf16
    autocast region gives bit-identical results: the Refiner switches autocast off."""
    from geoloc.refine import Refiner, build_prototypes

    emb32, p32, emb16, _ = _both_precisions(scenes)
    n = len(emb32)
    cells = p32.argmax(1)
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-50, 50, n), rng.uniform(-170, 170, n)
    protos = build_prototypes(cells, lat, lon, emb32, p32.shape[1], min_samples=2, noise="singleton",
                              progress=False)
    ref = Refiner(protos, top_k=3, temperature=1.0, backend="torch")
    a, b = ref.refine(emb32, p32), ref.refine(emb16, p32)
    assert (a.train_row >= 0).all()
    assert (b.train_row == a.train_row).all()
    assert not np.array_equal(emb16, emb32), "the bf16 queries differ, only the choice must not"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        c = ref.refine(emb32, p32)
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(c, f.name), getattr(a, f.name), err_msg=f.name)


def test_predict_in_bf16_gives_the_same_guesses(scenes):
    from geoloc.predict import Geolocator

    fp32 = scenes["geo"].predict(scenes["items"], places=False, views=4)
    bf16 = Geolocator.from_pretrained(scenes["path"], device="cpu", precision="bf16").predict(
        scenes["items"], places=False, views=4)
    for a, b in zip(fp32, bf16, strict=True):
        assert a.top_k[0].cell == b.top_k[0].cell
        assert a.top_k[0].probability == pytest.approx(b.top_k[0].probability, abs=0.02)


def test_embed_dataset_autocast_matches_fp32(scenes, tmp_path):
    import pandas as pd

    from geoloc.bundle import load_bundle
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import embed_dataset, model_transform

    b = load_bundle(scenes["path"])
    rows = [{"id": f"l{i}", "view": v, "path": p, "lat": 0.0, "lon": 0.0}
            for i, views in enumerate(scenes["items"]) for v, p in enumerate(views)]
    locs = load_locations(pd.DataFrame(rows), views=4)
    ds = LocationImages(locs, model_transform(b.model), cache=False, progress=False)
    e32, ok = embed_dataset(b.model, ds, device="cpu", precision="fp32", progress=False)
    e16, _ = embed_dataset(b.model, ds, device="cpu", precision="bf16", progress=False)
    assert ok.all()
    cos = (e16 * e32).sum(1) / np.linalg.norm(e16, axis=1) / np.linalg.norm(e32, axis=1)
    assert cos.min() > 0.999 and not np.array_equal(e16, e32)
    with inference_autocast(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.gpu
def test_cuda_default_is_bf16_and_matches_fp32(scenes):
    from geoloc.predict import Geolocator

    auto = Geolocator.from_pretrained(scenes["path"], device="cuda")
    assert auto.precision == "bf16"
    _, p16, _, _ = auto.forward(scenes["pixels"])
    _, p32, _, _ = scenes["geo"].forward(scenes["pixels"])
    assert np.abs(p16 - p32).max() < 0.02 and (p16.argmax(1) == p32.argmax(1)).all()
    assert not torch.backends.cuda.matmul.allow_tf32, "TF32 must not be switched on globally"
