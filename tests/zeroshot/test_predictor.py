"""ZeroShotGeolocator: probabilities against a naive float64 loop, Prediction fields, cache, loading errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image

from geoloc.errors import GeolocError, InputFileError
from geoloc.predict import Prediction
from geoloc.zeroshot import Fusion, ZeroShotGeolocator, ZeroShotPrediction, load_clip, load_geocells

TOWNS = ["Paris", "Marseille", "", "", "", "", "", "", ""]
SIZES = [40, 5, 30, 12, 8, 60, 3, 9, 1]
FUSION = Fusion(cell=30.0, admin1=12.0, country=7.0, prior=0.8, prior_source="cells")


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(scope="module")
def sized_cells(toy_cells):
    from geoloc.cells.geocell_set import GeocellSet

    return GeocellSet(toy_cells.frame.assign(size=SIZES), toy_cells.meta)


@pytest.fixture(scope="module")
def zs(tiny_clip, sized_cells):
    return ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, logit_scale=30.0, fusion=FUSION,
                              density_refine=False, progress=False)


def _naive_probs(zs, clip, views_list, fusion=FUSION):
    """Reference per location, from the module docstring's equation: encode every view alone, float64 mean of
    unit vectors; per class, encode every prompt alone; per cell the weighted cosines to its own, its admin-1
    unit's and its country's ensemble plus the weighted log prior (training counts + 0.5, from the cell table),
    softmax written out with math.exp. The country-prompt softmax uses the logit scale alone."""
    m = clip.model
    f = zs.geocells.frame

    def unit(v):
        v = v.double()
        return v / v.norm()

    def text_class(group):
        with torch.no_grad():
            s = torch.stack([unit(m.encode_text(clip.tokenizer([t]))[0]) for t in group]).mean(0)
        return s / s.norm()

    cells = [text_class(g) for g in zs.cell_prompts]
    admin = {code: text_class(g) for code, g in zip(sorted({a for a in f["adm1_code"] if a}), zs.admin1_prompts,
                                                     strict=True)}
    countries = {code: text_class(g) for code, g in zip(sorted({k for k in f["country"] if k}), zs.country_prompts,
                                                        strict=True)}
    counts = [float(x) + 0.5 for x in f["size"]]
    log_prior = [math.log(c / sum(counts)) for c in counts]
    out_cells, out_countries = [], []
    for views in views_list:
        with torch.no_grad():
            e = torch.stack([unit(m.encode_image(clip.transform(v)[None])[0]) for v in views]).mean(0)
        e = e / e.norm()
        logits = []
        for c, t in enumerate(cells):
            own = float(e @ t)
            a = float(e @ admin[f["adm1_code"][c]]) if f["adm1_code"][c] else own
            k = float(e @ countries[f["country"][c]]) if f["country"][c] else own
            logits.append(fusion.cell * own + fusion.admin1 * a + fusion.country * k + fusion.prior * log_prior[c])
        mx = max(logits)
        ex = [math.exp(x - mx) for x in logits]
        out_cells.append([x / sum(ex) for x in ex])
        klog = [zs.logit_scale * float(e @ countries[code]) for code in sorted(countries)]
        ex = [math.exp(x - max(klog)) for x in klog]
        out_countries.append([x / sum(ex) for x in ex])
    return np.array(out_cells), np.array(out_countries)


def test_probabilities_equal_naive_loop(zs, tiny_clip):
    imgs = _images(3)
    locations = [[imgs[0]], [imgs[1]], [imgs[1], imgs[2]]]
    ref_cells, ref_countries = _naive_probs(zs, tiny_clip, locations)
    preds = zs.predict([imgs[0], imgs[1], [imgs[1], imgs[2]]], top_k=len(zs.cell_names), top_regions=None,
                       places=False)
    for p, rc, rk in zip(preds, ref_cells, ref_countries, strict=True):
        got = np.zeros(len(rc))
        for t in p.top_k:
            got[t.cell] = t.probability
        np.testing.assert_allclose(got, rc, atol=1e-6)
        assert [t.probability for t in p.top_k] == sorted((t.probability for t in p.top_k), reverse=True)
        # countries: sums of the naive cell probabilities; countries_text: the country prompts
        for r in p.countries:
            idx = [i for i, c in enumerate(zs.cell_country) if c == r.code]
            assert r.probability == pytest.approx(rc[idx].sum(), abs=1e-6)
        for r in p.countries_text:
            assert r.probability == pytest.approx(rk[zs.country_keys.index(r.code)], abs=1e-6)
        assert sum(r.probability for r in p.countries_text) == pytest.approx(1.0, abs=1e-12)
        # the cell without a country carries the rest of the mass
        assert sum(r.probability for r in p.countries) == pytest.approx(1.0 - got[8], abs=1e-9)


def test_prompts_only_fusion_is_the_plain_cell_softmax(zs, tiny_clip, sized_cells):
    plain = ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, fusion=Fusion.prompts_only(30.0),
                               density_refine=False, progress=False)
    imgs = _images(2, seed=7)
    ref, _ = _naive_probs(plain, tiny_clip, [[im] for im in imgs], fusion=Fusion(cell=30.0))
    for p, rc in zip(plain.predict(imgs, top_k=9, places=False), ref, strict=True):
        np.testing.assert_allclose(sorted(t.probability for t in p.top_k), sorted(rc), atol=1e-6)
    # the prior moves mass towards the cells with more training locations: same images, prior only
    prior_only = ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, fusion=Fusion(cell=0.0, prior=1.0,
                                    prior_source="cells"), density_refine=False, progress=False)
    top = prior_only.predict(imgs[0], top_k=9, places=False)[0].top_k
    assert [t.cell for t in top][:3] == list(np.argsort(-np.array(SIZES), kind="stable")[:3])
    assert top[0].probability == pytest.approx((60 + 0.5) / (sum(SIZES) + 0.5 * 9), abs=1e-12)


def test_prediction_fields(zs):
    imgs = _images(2, seed=1)
    preds = zs.predict([imgs[0], b"not an image", [imgs[0], imgs[1]]], top_k=3, top_regions=2)
    a, bad, multi = preds
    assert all(isinstance(p, ZeroShotPrediction) and isinstance(p, Prediction) for p in preds)
    assert a.ok and multi.ok and not bad.ok and "not a recognised image" in bad.error
    assert bad.top_k == [] and bad.countries_text == [] and bad.lat is None
    assert len(a.top_k) == 3 and len(a.countries) == 2 and len(a.countries_text) == 2
    assert (a.lat, a.lon) == (a.top_k[0].lat, a.top_k[0].lon)
    c = a.top_k[0].cell
    assert a.top_k[0].cell_name == zs.cell_names[c] and (a.lat, a.lon) == tuple(zs.centroids[c])
    assert a.refined is None and a.timings_ms["refine"] == 0.0  # density_refine=False
    assert set(a.timings_ms) == {"decode", "embed", "classify", "refine", "total"}
    assert a.top_k[0].place is not None and a.top_k[0].place.name
    assert multi.views == 2 and a.views == 1
    d = a.to_dict()
    assert d["countries_text"][0]["code"] == a.countries_text[0].code and d["refined"] is None
    # panorama split into 4 views
    pano = Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 256, 3), dtype=np.uint8))
    assert zs.predict(pano, views=4, places=False)[0].views == 4


def test_batching_and_logit_scale(tiny_clip, toy_cells, sized_cells, zs):
    imgs = _images(5, seed=2)
    one = ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, logit_scale=30.0, fusion=FUSION, batch_size=2,
                             density_refine=False, progress=False)
    pa = zs.predict(imgs, places=False, top_k=9)
    pb = one.predict(imgs, places=False, top_k=9)
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_allclose([t.probability for t in x.top_k], [t.probability for t in y.top_k], atol=1e-6)
    base = ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, fusion=Fusion.prompts_only(30.0), progress=False)
    sharp = ZeroShotGeolocator(tiny_clip, sized_cells, towns=TOWNS, fusion=Fusion.prompts_only(90.0), progress=False)
    for x, y in zip(base.predict(imgs, places=False, top_k=9), sharp.predict(imgs, places=False, top_k=9),
                    strict=True):  # same ranking, higher top-1 probability
        assert [t.cell for t in x.top_k] == [t.cell for t in y.top_k]
        assert y.top_k[0].probability > x.top_k[0].probability
    default = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, progress=False)
    scale = float(tiny_clip.model.logit_scale.detach().exp())
    assert default.logit_scale == pytest.approx(scale)
    assert default.fusion.weights() == pytest.approx([scale / 3, scale / 3, scale / 3, 1.0])
    assert default.fusion.prior_source == "density" and default.refiner is not None
    with pytest.raises(GeolocError, match="logit_scale"):
        ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, logit_scale=-1.0, progress=False)


def test_density_refinement_moves_the_guess_to_where_photos_are(tiny_clip, toy_cells):
    import shapely

    from geoloc.geo.density import load_photo_prior

    zs = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, progress=False)
    p = zs.predict(_images(1, seed=9)[0], places=False)[0]
    c = p.top_k[0].cell
    assert p.refined is not None and p.refined.cell == c and (p.lat, p.lon) == (p.refined.lat, p.refined.lon)
    # reference: the prior points inside the cell's box, binned at 0.25 degrees; the fullest bin's mean
    lat, lon = load_photo_prior()
    inside = shapely.contains_xy(toy_cells.geometries[c], lon, lat)
    assert inside.sum() > 0 and not p.refined.fallback
    rows, cols = np.floor((lat[inside] + 90) / 0.25), np.floor((lon[inside] + 180) / 0.25)
    _keys, inv, counts = np.unique(rows * 10_000 + cols, return_inverse=True, return_counts=True)
    best = inv == np.argmax(counts)
    assert p.lat == pytest.approx(lat[inside][best].mean(), abs=1e-9)
    assert p.lon == pytest.approx(lon[inside][best].mean(), abs=1e-9)
    assert shapely.contains_xy(toy_cells.geometries[c], p.lon, p.lat)


def test_cached_text_embeddings_equal_recomputed(tiny_clip, toy_cells, tmp_path, monkeypatch):
    import geoloc.zeroshot.predictor as predictor

    first = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, cache_dir=tmp_path, progress=False)
    assert first.cache_path is not None and first.cache_path.is_file()

    def no_encoding(*a, **k):
        raise AssertionError("prompts re-encoded although the cache holds them")

    monkeypatch.setattr(predictor, "class_embeddings", no_encoding)
    cached = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, cache_dir=tmp_path, progress=False)
    monkeypatch.undo()
    fresh = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, progress=False)
    torch.testing.assert_close(cached.cell_text, fresh.cell_text, rtol=0, atol=1e-6)
    torch.testing.assert_close(cached.admin1_text, fresh.admin1_text, rtol=0, atol=1e-6)
    torch.testing.assert_close(cached.country_text, fresh.country_text, rtol=0, atol=1e-6)
    # other prompts or other text weights: another file
    other = ZeroShotGeolocator(tiny_clip, toy_cells, towns=False, cache_dir=tmp_path, progress=False)
    assert other.cache_path != first.cache_path
    changed = copy.deepcopy(tiny_clip)
    with torch.no_grad():
        changed.model.text_projection.mul_(2.0)
    assert ZeroShotGeolocator(changed, toy_cells, towns=TOWNS, cache_dir=tmp_path,
                              progress=False).cache_path != first.cache_path
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


# ----------------------------------------------------------------------------------------- loading


def test_full_checkpoint_round_trip(tiny_clip, toy_cells, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_clip.model.state_dict().items()}, str(path))
    zs = ZeroShotGeolocator.from_clip("geoloc-tiny-vit", checkpoint=path, cells=toy_cells, towns=TOWNS,
                                      logit_scale=30.0, progress=False)
    ref = ZeroShotGeolocator(tiny_clip, toy_cells, towns=TOWNS, logit_scale=30.0, progress=False)
    torch.testing.assert_close(zs.cell_text, ref.cell_text)
    img = _images(1)[0]
    np.testing.assert_allclose([t.probability for t in zs.predict(img, places=False)[0].top_k],
                               [t.probability for t in ref.predict(img, places=False)[0].top_k], atol=1e-7)
    assert zs.clip.source == f"checkpoint:{path}"


def test_bad_checkpoints_give_clear_errors(tiny_clip, tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(InputFileError, match="does not exist"):
        load_clip("geoloc-tiny-vit", checkpoint=tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputFileError, match="could not be read"):
        load_clip("geoloc-tiny-vit", checkpoint=junk)
    sd = {k: v.contiguous() for k, v in tiny_clip.model.state_dict().items()}
    vision_only = tmp_path / "vision.safetensors"
    save_file({k.removeprefix("visual."): v for k, v in sd.items() if k.startswith("visual.")}, str(vision_only))
    with pytest.raises(InputFileError, match="not a vision tower alone"):
        load_clip("geoloc-tiny-vit", checkpoint=vision_only)
    no_text = tmp_path / "no_text.safetensors"
    save_file({k: v for k, v in sd.items() if k.startswith("visual.")}, str(no_text))
    with pytest.raises(InputFileError, match="text tower is missing"):
        load_clip("geoloc-tiny-vit", checkpoint=no_text)
    with pytest.raises(InputFileError, match="does not fit"):
        load_clip("geoloc-small-vit", checkpoint=_full(sd, tmp_path))
    with pytest.raises(GeolocError, match="unknown open_clip architecture"):
        load_clip("no-such-clip")
    with pytest.raises(GeolocError, match="either"):
        load_clip("geoloc-tiny-vit", pretrained="openai", checkpoint=_full(sd, tmp_path))


def _full(sd, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "full.safetensors"
    if not path.exists():
        save_file(sd, str(path))
    return path


def test_load_geocells_sources(toy_cells, tmp_path):
    from geoloc.bundle import save_bundle
    from geoloc.errors import BundleError
    from geoloc.model import GeoModel, GeoModelConfig

    assert load_geocells(toy_cells) is toy_cells
    f = toy_cells.save(tmp_path / "cells.parquet")
    assert load_geocells(f).equals(toy_cells)
    torch.manual_seed(0)
    cfg = GeoModelConfig(num_cells=len(toy_cells), tower="geoloc-tiny-vit", aux_heads={})
    bundle = save_bundle(tmp_path / "bundle", model=GeoModel(cfg).eval(), config=cfg, geocells=toy_cells,
                         card={"data": "test", "training_command": "none"})
    assert load_geocells(tmp_path / "bundle").equals(toy_cells)
    assert bundle
    with pytest.raises(InputFileError, match="neither a geocell file nor a model bundle"):
        load_geocells(tmp_path / "missing")
    (tmp_path / "bundle" / "geocells.parquet").write_bytes(b"altered")
    with pytest.raises(BundleError):
        load_geocells(tmp_path / "bundle")


@pytest.mark.gpu
def test_cuda_matches_cpu(tiny_clip, toy_cells):
    cpu = ZeroShotGeolocator(copy.deepcopy(tiny_clip), toy_cells, towns=TOWNS, device="cpu", progress=False)
    gpu = ZeroShotGeolocator(copy.deepcopy(tiny_clip), toy_cells, towns=TOWNS, device="cuda", progress=False)
    assert gpu.cell_text.device.type == "cuda"
    torch.testing.assert_close(gpu.cell_text.cpu(), cpu.cell_text, atol=1e-4, rtol=0)
    imgs = _images(3, seed=4)
    for a, b in zip(cpu.predict(imgs, places=False, top_k=9), gpu.predict(imgs, places=False, top_k=9), strict=True):
        pa = {t.cell: t.probability for t in a.top_k}
        pb = {t.cell: t.probability for t in b.top_k}
        assert pa == pytest.approx(pb, abs=1e-3)


def test_pretrained_download_failure_is_a_clear_error(monkeypatch):
    import geoloc.model.tower as tower

    def offline(*a, **k):
        raise RuntimeError("Failed to download file (offline)")

    monkeypatch.setattr(tower, "build_clip", offline)
    with pytest.raises(GeolocError, match="need the network or open_clip's cache"):
        load_clip("ViT-B-32", pretrained="openai")


def test_cells_without_countries(tiny_clip, cells_factory):
    cells = cells_factory([("Open sea 1", "", "", "", "", -40.0, -30.0), ("Open sea 2", "", "", "", "", 10.0, -30.0)])
    zs = ZeroShotGeolocator(tiny_clip, cells, towns=False, progress=False)
    assert zs.country_text.shape == (0, zs.cell_text.shape[1])
    p = zs.predict(_images(1)[0], places=False)[0]
    assert p.ok and p.countries == [] and p.countries_text == [] and len(p.top_k) == 2
    assert sum(t.probability for t in p.top_k) == pytest.approx(1.0, abs=1e-12)


def test_evaluation_harness_accepts_the_zero_shot_predictor(zs, tmp_path):
    import pandas as pd

    from geoloc.eval.run import evaluate_manifest

    imgs = _images(3, seed=5)
    for i, im in enumerate(imgs):
        im.save(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"broken")
    df = pd.DataFrame({"path": ["0.png", "1.png", "2.png", "bad.png"], "lat": [48.9, 35.7, -23.5, 0.0],
                       "lon": [2.3, 139.8, -46.6, 0.0]})
    res = evaluate_manifest(zs, df, root=tmp_path, views=1, progress=False)
    assert res.n_locations == 4 and len(res.failed) == 1
    assert res.report.metrics["n"] == 3
