"""Uploads: per-file errors, EXIF read beside (never into) the model, panoramas, views of one place,
and the batch table / CSV / JSON built from the results."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from app_helpers import gps_exif, image_bytes
from PIL import Image

from app import results, uploads
from app.uploads import Upload, locate_uploads, prepare_upload, prepare_uploads
from geoloc.geo import haversine_km


def test_bad_files_get_their_own_message():
    good = image_bytes()
    truncated = good[: len(good) // 3]
    cases = {"empty.jpg": b"", "notes.txt": b"hello, not an image", "cut.jpg": truncated}
    for name, data in cases.items():
        p = prepare_upload(Upload(name, data))
        assert p.error is not None and p.error.startswith(name) and not p.views
    assert "empty" in prepare_upload(Upload("empty.jpg", b"")).error
    assert "not a recognised image" in prepare_upload(Upload("notes.txt", b"hello")).error
    big = prepare_upload(Upload("big.jpg", good), max_bytes=len(good) - 1)
    assert "too large" in big.error and big.error.startswith("big.jpg")
    ok = prepare_upload(Upload("ok.jpg", good))
    assert ok.error is None and len(ok.views) == 1 and ok.views[0].size == (96, 64)


def test_pixel_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (11_000, 10_000)).save(buf, format="PNG")  # 110 MP > the 100 MP guard, tiny file
    p = prepare_upload(Upload("bomb.png", buf.getvalue()))
    assert p.error.startswith("bomb.png") and "exceeds the limit" in p.error


def test_byte_limit_from_environment(monkeypatch):
    monkeypatch.setenv("GEOLOC_APP_MAX_UPLOAD_MB", "0.001")
    assert uploads.max_upload_bytes() == int(0.001 * 1024 * 1024)
    assert "too large" in prepare_upload(Upload("a.jpg", image_bytes(200, 200))).error
    monkeypatch.setenv("GEOLOC_APP_MAX_UPLOAD_MB", "junk")
    assert uploads.max_upload_bytes() == int(uploads.DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_position_is_read_for_display(fmt):
    data = image_bytes(fmt=fmt, exif=gps_exif(-33.8688, 151.2093))
    p = prepare_upload(Upload(f"x.{fmt.lower()}", data))
    assert p.error is None
    assert p.exif == pytest.approx((-33.8688, 151.2093), abs=1e-5)
    assert prepare_upload(Upload("plain.jpg", image_bytes())).exif is None


def test_exif_never_reaches_the_model(geolocator):
    plain = image_bytes(seed=3)
    tagged = image_bytes(seed=3, exif=gps_exif(48.85, 2.35))  # same pixels, GPS added
    a, b = locate_uploads(geolocator, [Upload("plain.jpg", plain), Upload("tagged.jpg", tagged)])
    assert a.exif is None and b.exif == pytest.approx((48.85, 2.35), abs=1e-5)
    assert (a.prediction.lat, a.prediction.lon) == (b.prediction.lat, b.prediction.lon)
    assert [t.probability for t in a.prediction.top_k] == [t.probability for t in b.prediction.top_k]
    assert b.exif_km == pytest.approx(float(haversine_km(48.85, 2.35, b.prediction.lat, b.prediction.lon)))


def test_panorama_modes():
    pano = image_bytes(2000, 1000, "PNG")
    auto = prepare_upload(Upload("pano.png", pano), "auto")
    assert len(auto.views) == uploads.PANORAMA_VIEWS and "panorama" in auto.note
    assert len(prepare_upload(Upload("pano.png", pano), "single").views) == 1
    small = image_bytes(400, 200, "PNG")  # 2:1 but too small to be a panorama in auto mode
    assert len(prepare_upload(Upload("s.png", small), "auto").views) == 1
    assert len(prepare_upload(Upload("s.png", small), "panorama").views) == uploads.PANORAMA_VIEWS
    from geoloc.data.layout import is_equirect_panorama

    assert is_equirect_panorama(4096, 2048) and not is_equirect_panorama(4096, 3000)
    strip = image_bytes(256, 64, "PNG")  # four 64 px views side by side
    cut = prepare_upload(Upload("strip.png", strip), "auto")
    assert len(cut.views) == 4 and "strip" in cut.note and cut.views[0].size == (64, 64)
    assert len(prepare_upload(Upload("strip.png", strip), "strip").views) == 4
    with pytest.raises(Exception, match="unknown input mode"):
        prepare_upload(Upload("s.png", small), "sideways")


def test_views_of_one_place_are_merged_and_bad_files_kept():
    ups = [Upload(f"v{i}.jpg", image_bytes(seed=i)) for i in range(4)] + [Upload("bad.jpg", b"xx")]
    out = prepare_uploads(ups, "views")
    assert len(out) == 2
    merged, bad = out
    assert len(merged.views) == 4 and merged.error is None and merged.name == "v0.jpg + v1.jpg + v2.jpg + v3.jpg"
    assert bad.error.startswith("bad.jpg")


def test_batch_keeps_order_and_errors(geolocator):
    ups = [Upload("a.jpg", image_bytes(seed=1)), Upload("broken.jpg", b"\xff\xd8junk"),
           Upload("c.png", image_bytes(fmt="PNG", seed=2, exif=gps_exif(10.0, 20.0))), Upload("empty.gif", b"")]
    res = locate_uploads(geolocator, ups)
    assert [r.name for r in res] == ["a.jpg", "broken.jpg", "c.png", "empty.gif"]
    assert [r.ok for r in res] == [True, False, True, False]
    # the same images alone give the same predictions as inside the batch
    alone = geolocator.predict(Image.open(io.BytesIO(ups[0].data)))[0]
    assert res[0].prediction.lat == pytest.approx(alone.lat) and res[0].prediction.lon == pytest.approx(alone.lon)

    table = results.batch_table(res)
    assert list(table.columns) == results.BATCH_COLUMNS and len(table) == 4
    assert table["status"].tolist() == ["ok", "error", "ok", "error"]
    assert table.loc[1, "error"].startswith("broken.jpg") and table.loc[3, "error"].startswith("empty.gif")
    assert table.loc[2, "exif lat"] == pytest.approx(10.0) and table.loc[2, "exif km"] == pytest.approx(
        res[2].exif_km, abs=0.05)
    back = pd.read_csv(io.BytesIO(results.batch_csv(res)))
    assert back["file"].tolist() == table["file"].tolist()
    np.testing.assert_allclose(back["lat"].to_numpy(float), table["lat"].to_numpy(float))
    doc = json.loads(results.batch_json(res))
    assert [d["ok"] for d in doc] == [True, False, True, False]
    assert doc[1]["prediction"] is None and doc[1]["error"].startswith("broken.jpg")
    assert doc[0]["prediction"]["lat"] == res[0].prediction.lat
    assert doc[2]["exif"]["lat"] == pytest.approx(10.0)


def test_top_k_and_country_tables(geolocator):
    res = locate_uploads(geolocator, [Upload("a.jpg", image_bytes(seed=5))])[0]
    p = res.prediction
    t = results.top_k_table(p)
    assert t["rank"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(t["probability %"], [round(100 * x.probability, 2) for x in p.top_k])
    names = [geolocator.admin1_names[x.admin1_code] for x in p.top_k]
    assert [x.split(" (")[0] for x in t["admin-1"]] == names  # the name, never Natural Earth's internal id
    assert not any(re.fullmatch(r"[A-Z]{3}-\d+", x) for x in t["admin-1"])
    assert all(isinstance(x, str) and x for x in t["nearest place"])
    assert t["country"].tolist() == [geolocator.country_names[x.country] for x in p.top_k]  # names, not codes
    c = results.country_table(p, n=3)
    assert c["code"].tolist() == [x.code for x in p.countries[:3]]
    assert c["probability"].is_monotonic_decreasing
    a = results.admin1_table(p, n=4)
    assert a["admin-1"].tolist() == [geolocator.admin1_names[x.code] or x.iso or x.code for x in p.admin1[:4]]
    assert a["ISO 3166-2"].tolist() == [x.iso for x in p.admin1[:4]]
    assert a["probability"].tolist() == [x.probability for x in p.admin1[:4]]
    assert a["probability"].is_monotonic_decreasing and "code" not in a.columns


def test_content_key_changes_with_bytes_and_mode():
    a = [Upload("a.jpg", b"1")]
    assert uploads.content_key(a, "auto") == uploads.content_key([Upload("a.jpg", b"1")], "auto")
    assert uploads.content_key(a, "auto") != uploads.content_key([Upload("a.jpg", b"2")], "auto")
    assert uploads.content_key(a, "auto") != uploads.content_key(a, "single")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF"])
def test_every_data_layer_format_is_accepted(fmt):
    from geoloc.data.images import register_heif

    register_heif()
    p = prepare_upload(Upload(f"photo.{fmt.lower()}", image_bytes(40, 30, fmt)))
    assert p.error is None and p.views[0].size == (40, 30) and p.views[0].mode == "RGB"


def test_place_names_leave_out_empty_parts():
    from geoloc.predict import Place

    assert results.place_name(Place("Vatican City", "", "VA", 1.0)) == "Vatican City (VA)"
    assert results.place_name(Place("Rome", "Latium", "IT", 2.0)) == "Rome, Latium (IT)"
    assert results.place_name(None) == ""
