"""Geolocator: round trip through a saved bundle, probability bookkeeping, views, bad items."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from geoloc.bundle import bundle_in_memory
from geoloc.errors import BundleError, GeolocError
from geoloc.predict import Geolocator, aggregate_probabilities, region_index


def _image(seed: int, size=(96, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def geo(bundle_dir):
    return Geolocator.from_pretrained(bundle_dir, device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def images():
    return [_image(i) for i in range(5)]


def _assert_close(a, b, rel=1e-5):
    """Recursive equality with floats compared to a relative tolerance (batch position changes the
    last bits of a matmul)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_close(a[k], b[k], rel)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_close(x, y, rel)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-9)
    else:
        assert a == b


def _strip_timings(preds):
    out = []
    for p in preds:
        d = p.to_dict()
        d.pop("timings_ms")
        out.append(d)
    return out


def test_predictions_identical_after_save_load(parts, geo, images):
    mem = Geolocator(bundle_in_memory(model=parts["model"], geocells=parts["geocells"],
                                      prototypes=parts["prototypes"]), device="cpu", batch_size=3)
    a = mem.predict(images, top_regions=None)
    b = geo.predict(images, top_regions=None)
    assert _strip_timings(a) == _strip_timings(b)
    assert all(p.ok and p.refined is not None for p in b)


def test_inputs_paths_bytes_pil_agree(geo, images, tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(_png(images[0]))
    preds = geo.predict([str(path), path, _png(images[0]), images[0]])
    first = _strip_timings(preds[:1])[0]
    for d in _strip_timings(preds[1:]):
        d["source"] = first["source"]
        _assert_close(d, first)
    assert preds[0].source == str(path) and preds[3].source == "<PIL image>"
    single = geo.predict(images[0])
    assert len(single) == 1
    _assert_close(_strip_timings(single), _strip_timings(preds[3:]))


def test_probabilities_and_regions_consistent(geo, images):
    preds = geo.predict(images, top_k=len(geo.centroids), top_regions=None, places=False)
    for p in preds:
        cell_p = np.zeros(len(geo.centroids))
        for t in p.top_k:
            cell_p[t.cell] = t.probability
        assert sorted(t.cell for t in p.top_k) == list(range(len(geo.centroids)))
        assert cell_p.sum() == pytest.approx(1.0, abs=1e-9)
        probs = [t.probability for t in p.top_k]
        assert probs == sorted(probs, reverse=True)
        # reference: a plain loop over cells
        for regions, labels in ((p.countries, geo.cell_country), (p.admin1, geo.cell_admin1)):
            ref: dict[str, float] = {}
            for c, lab in enumerate(labels):
                if lab:
                    ref[lab] = ref.get(lab, 0.0) + cell_p[c]
            got = {r.code: r.probability for r in regions}
            assert got.keys() == ref.keys()
            for k in ref:
                assert got[k] == pytest.approx(ref[k], abs=1e-9)
            unlabelled = sum(cell_p[c] for c, lab in enumerate(labels) if not lab)
            assert sum(got.values()) + unlabelled == pytest.approx(1.0, abs=1e-9)
        assert p.countries[0].probability >= p.top_k[0].probability


def test_user_facing_admin1_is_a_name_with_its_iso_code(geo, images):
    from geoloc.geo.boundaries import load_admin1

    a1 = load_admin1().set_index("adm1_code")
    p = geo.predict(images[:1], top_k=5, places=False)[0]
    for t in p.top_k:
        assert t.admin1 == a1.loc[t.admin1_code, "name"]  # the unit's name, not 'AUS-2656'
        iso = a1.loc[t.admin1_code, "iso_3166_2"]
        assert t.admin1_iso == (iso if "~" not in iso and not iso.startswith("-99") else "")
    for r in p.admin1:
        assert r.name == a1.loc[r.code, "name"] and r.iso in ("", a1.loc[r.code, "iso_3166_2"])
    for r in p.countries:
        assert len(r.iso) in (0, 2)
    doc = p.to_dict()
    assert all(t["admin1"] == a1.loc[t["admin1_code"], "name"] for t in doc["top_k"])


def test_official_iso_3166_2_drops_natural_earth_placeholders():
    from geoloc.geo.boundaries import country_alpha2, lookup_admin, official_iso_3166_2

    assert official_iso_3166_2("AU-NSW") == "AU-NSW" and official_iso_3166_2("SY-X01~") == ""
    assert official_iso_3166_2("-99-X16~") == "" and official_iso_3166_2(None) == ""
    assert country_alpha2(["FRA", "AUS", "nope"]) == ["FR", "AU", ""]
    row = lookup_admin([-33.87], [151.21]).iloc[0]  # Sydney
    assert row["admin1"] == "New South Wales" and row["iso_3166_2"] == "AU-NSW"


def test_top_cells_match_model_softmax(parts, geo, images):
    x = torch.stack([geo.transform(im) for im in images[:2]])
    with torch.no_grad():
        probs = torch.softmax(parts["model"](x)["geocell"], dim=1).numpy()
    preds = geo.predict(images[:2], top_k=3, places=False)
    for p, row in zip(preds, probs, strict=True):
        assert [t.cell for t in p.top_k] == list(np.argsort(-row, kind="stable")[:3])
        np.testing.assert_allclose([t.probability for t in p.top_k], np.sort(row)[::-1][:3], rtol=1e-5)


def test_aggregate_probabilities_reference():
    rng = np.random.default_rng(1)
    labels = ["FRA", "", "DEU", "FRA", "ITA", ""]
    keys, col = region_index(labels)
    assert keys == ["DEU", "FRA", "ITA"] and list(col) == [1, -1, 0, 1, 2, -1]
    p = rng.dirichlet(np.ones(6), size=4)
    agg = aggregate_probabilities(p, col, 3)
    np.testing.assert_allclose(agg[:, 1], p[:, 0] + p[:, 3])
    np.testing.assert_allclose(agg.sum(1) + p[:, 1] + p[:, 5], 1.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["", "A", "B", "C"]), min_size=1, max_size=12), st.integers(1, 4),
       st.integers(0, 2**31 - 1))
def test_aggregate_probabilities_property(labels, batch, seed):
    keys, col = region_index(labels)
    p = np.random.default_rng(seed).dirichlet(np.ones(len(labels)), size=batch)
    agg = aggregate_probabilities(p, col, len(keys))
    assert agg.shape == (batch, len(keys))
    for r, key in enumerate(keys):
        np.testing.assert_allclose(agg[:, r], p[:, [lab == key for lab in labels]].sum(1), atol=1e-12)
    np.testing.assert_allclose(agg.sum(1) + p[:, [not lab for lab in labels]].sum(1), 1.0, atol=1e-12)


def test_refinement_and_places(geo, images):
    p = geo.predict(images[:1])[0]
    assert (p.lat, p.lon) == (p.refined.lat, p.refined.lon)
    assert p.refined.place is not None and p.refined.place.name
    assert all(t.place is not None for t in p.top_k)
    plain = geo.predict(images[:1], refine=False)[0]
    assert plain.refined is None and (plain.lat, plain.lon) == (plain.top_k[0].lat, plain.top_k[0].lon)
    assert set(p.timings_ms) == {"decode", "embed", "classify", "refine", "total"}
    assert all(v >= 0 for v in p.timings_ms.values())
    json.dumps([q.to_dict() for q in geo.predict(images[:2])])


def test_four_views(geo, images):
    four = images[:4]
    a = geo.predict([four], views=4, places=False)[0]
    b = geo.predict([four[::-1]], views=4, places=False)[0]  # mean fusion ignores view order
    assert a.ok and a.views == 4
    assert [t.cell for t in a.top_k] == [t.cell for t in b.top_k]
    np.testing.assert_allclose([t.probability for t in a.top_k], [t.probability for t in b.top_k], rtol=1e-5)
    # four copies of one view == that single view under mean fusion
    same = geo.predict([[images[0]] * 4], views=4, places=False)[0]
    one = geo.predict([images[0]], views=1, places=False)[0]
    assert [t.cell for t in same.top_k] == [t.cell for t in one.top_k]
    np.testing.assert_allclose([t.probability for t in same.top_k], [t.probability for t in one.top_k],
                               rtol=1e-4)
    # a panorama is cut into four headings; a mixed batch (1 and 4 views) is padded and masked
    pano = geo.predict([_image(9, size=(256, 128))], layout="panorama", views=4, places=False)[0]
    assert pano.ok and pano.views == 4 and pano.layout == "panorama"
    mixed = geo.predict([images[0], four], views=None, places=False)
    assert [m.views for m in mixed] == [1, 4]
    assert [t.cell for t in mixed[0].top_k] == [t.cell for t in one.top_k]
    np.testing.assert_allclose([t.probability for t in mixed[1].top_k], [t.probability for t in a.top_k],
                               rtol=1e-4)


@pytest.fixture(scope="module")
def geo4(parts, tmp_path_factory):
    """The same tiny model saved as a four-view bundle."""
    from geoloc.bundle import save_bundle

    path = tmp_path_factory.mktemp("four") / "tiny4"
    save_bundle(path, model=parts["model"], config=parts["config"], geocells=parts["geocells"],
                prototypes=parts["prototypes"], card={"data": "test", "training_command": "none"}, views=4)
    return Geolocator.from_pretrained(path, device="cpu")


def test_layout_defaults_from_the_bundle_and_the_aspect(geo4, images):
    """Fault 5 of the PIGEON issue: a panorama fed to a 4-view model was used as ONE centre-cropped view,
    any image was cut as a panorama when views=4, and the strip layout was unreachable."""
    from geoloc.data.panorama import split_panorama

    geo = geo4
    assert geo.default_views == 4
    pano = _image(11, size=(1200, 600))
    auto = geo.predict(pano, places=False)[0]  # views=None: the bundle's 4 headings
    assert auto.ok and auto.layout == "panorama" and auto.views == 4
    cut = geo.predict([split_panorama(pano, 4)], places=False)[0]
    np.testing.assert_allclose([t.probability for t in auto.top_k], [t.probability for t in cut.top_k], rtol=1e-5)
    photo = geo.predict(_image(12, size=(400, 300)), views=4, places=False)[0]  # a 4:3 photo is not cut
    assert photo.layout == "single" and photo.views == 1
    views = [_image(20 + k, size=(64, 64)) for k in range(4)]
    strip = Image.new("RGB", (256, 64))
    for k, v in enumerate(views):
        strip.paste(v, (64 * k, 0))
    s_auto = geo.predict(strip, places=False)[0]
    s_list = geo.predict([views], places=False)[0]
    assert s_auto.layout == "strip" and s_auto.views == 4
    np.testing.assert_allclose([t.probability for t in s_auto.top_k], [t.probability for t in s_list.top_k],
                               rtol=1e-5)
    forced = geo.predict(strip, layout="single", places=False)[0]
    assert forced.layout == "single" and forced.views == 1
    with pytest.raises(GeolocError, match="layout"):
        geo.predict(pano, layout="equirect")
    bad = geo.predict([pano], layout="views", places=False)[0]
    assert not bad.ok and "list of images" in bad.error


def test_bad_items_reported_per_item(geo, images, tmp_path):
    good = geo.predict(images[:3], places=False)
    truncated = _png(images[1])[:200]
    preds = geo.predict([images[0], b"not an image", truncated, images[2], tmp_path / "missing.jpg",
                         [images[0], images[1]]], views=None, places=False)
    assert [p.ok for p in preds] == [True, False, False, True, False, True]
    assert preds[1].error and preds[1].lat is None and preds[1].top_k == []
    assert "missing.jpg" in preds[4].error
    _assert_close(_strip_timings([preds[0], preds[3]]), _strip_timings([good[0], good[2]]))
    wrong = geo.predict([[images[0], images[1]], images[2]], views=4, places=False)
    assert "expected 4 view" in wrong[0].error and wrong[1].ok
    assert geo.predict([b"junk"])[0].error


def test_argument_errors(geo, tmp_path):
    with pytest.raises(GeolocError, match="views"):
        geo.predict([_image(0)], views=0)
    with pytest.raises(GeolocError, match="top_k"):
        geo.predict([_image(0)], top_k=0)
    with pytest.raises(BundleError):
        Geolocator.from_pretrained(tmp_path / "nothing")


@pytest.mark.gpu
def test_cuda_matches_cpu(bundle_dir, images):
    """fp32 on both (the CUDA default is bf16 autocast: tests/predict/test_precision.py)."""
    cpu = Geolocator.from_pretrained(bundle_dir, device="cpu").predict(images, places=False)
    gpu = Geolocator.from_pretrained(bundle_dir, device="cuda", precision="fp32").predict(images, places=False)
    for a, b in zip(cpu, gpu, strict=True):
        assert [t.cell for t in a.top_k][:1] == [t.cell for t in b.top_k][:1]
        np.testing.assert_allclose([t.probability for t in a.top_k], [t.probability for t in b.top_k],
                                   rtol=1e-3, atol=1e-5)
