"""The page driven by Streamlit's AppTest: upload -> results, bad files, batch, samples, play, model card,
and the error guard (never a traceback on the page)."""

from __future__ import annotations

import json

import pytest
from app_helpers import gps_exif, image_bytes
from streamlit.testing.v1 import AppTest

from app.cli import APP_SCRIPT
from geoloc.geo import geoguessr_score, haversine_km

TIMEOUT = 180


@pytest.fixture
def at(tiny_bundle_dir, monkeypatch):
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    app = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    return app


def markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_upload_shows_map_tables_and_exif(at):
    at.file_uploader(key="uploads").set_value(("paris.jpg", image_bytes(exif=gps_exif(48.85, 2.35)), "image/jpeg"))
    at.run()
    assert not at.exception and not at.error
    text = markdown(at)
    assert "#### paris.jpg" in text and "**Top-5 guesses**" in text and "**Most likely countries**" in text
    assert "**Most likely admin-1 regions**" in text
    assert "EXIF says **48.85000, 2.35000**" in text
    assert len(at.get("deck_gl_json_chart")) == 1
    top5 = at.dataframe[0].value
    assert top5["rank"].tolist() == [1, 2, 3, 4, 5]
    countries, admin1 = at.dataframe[1].value, at.dataframe[2].value  # bars drawn in the table cells
    assert countries.columns.tolist() == ["country", "probability"] and countries["probability"].is_monotonic_decreasing
    assert admin1.columns.tolist() == ["admin-1", "ISO 3166-2", "probability"]
    guess = at.metric[0].value
    lat, lon = (float(x) for x in guess.split(","))
    km = haversine_km(48.85, 2.35, lat, lon)
    assert f"**{km:,.0f} km** apart" in text


def test_bad_files_get_messages_and_the_rest_is_processed(at):
    at.file_uploader(key="uploads").set_value([
        ("good.png", image_bytes(fmt="PNG"), "image/png"),
        ("corrupt.jpg", b"\xff\xd8\xff\xe0 definitely not a jpeg", "image/jpeg"),
        ("notes.txt", b"hello", "text/plain"),
        ("empty.jpg", b"", "image/jpeg"),
    ])
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 3
    assert any(e.startswith("corrupt.jpg") for e in errors) and any(e.startswith("notes.txt") for e in errors)
    assert any(e.startswith("empty.jpg") and "empty" in e for e in errors)
    assert "1 of 4 location(s) located; 3 could not be read." in [c.value for c in at.caption]
    assert "#### good.png" in markdown(at)
    batch = at.dataframe[0].value
    assert batch["status"].tolist() == ["ok", "error", "error", "error"]


def test_oversized_upload(at, monkeypatch):
    monkeypatch.setenv("GEOLOC_APP_MAX_UPLOAD_MB", "0.01")
    at.file_uploader(key="uploads").set_value([("big.png", image_bytes(200, 200, "PNG"), "image/png"),
                                               ("small.jpg", image_bytes(8, 8), "image/jpeg")])
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("big.png: file too large")
    assert "#### small.jpg" in markdown(at)


def test_batch_table_downloads_and_detail_selector(at):
    files = [(f"img{i}.jpg", image_bytes(seed=i), "image/jpeg") for i in range(3)]
    at.file_uploader(key="uploads").set_value(files)
    at.run()
    assert not at.exception
    batch = at.dataframe[0].value
    assert batch["file"].tolist() == ["img0.jpg", "img1.jpg", "img2.jpg"] and (batch["status"] == "ok").all()
    assert "#### img0.jpg" in markdown(at)
    at.selectbox(key="detail").select("img2.jpg")
    at.run()
    assert "#### img2.jpg" in markdown(at) and "#### img0.jpg" not in markdown(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download CSV", "Download JSON"]


def test_four_views_of_one_place(at):
    at.selectbox(key="input_mode").select("views")
    at.file_uploader(key="uploads").set_value([(f"v{i}.jpg", image_bytes(seed=i), "image/jpeg") for i in range(4)])
    at.run()
    assert not at.exception
    assert "#### v0.jpg + v1.jpg + v2.jpg + v3.jpg" in markdown(at)
    assert "(4 view(s))" in markdown(at)


def test_samples_show_truth_and_score(at):
    at.radio(key="mode").set_value("SynthWorld samples")
    at.run()
    at.selectbox(key="sample").select("Cairo")
    at.button(key="sample_go").click()
    at.run()
    assert not at.exception
    text = markdown(at)
    assert "True location 30.044, 31.236" in text and "GeoGuessr points" in text


def test_play_with_typed_coordinates(at):
    at.radio(key="mode").set_value("Play against the model")
    at.run()
    assert not at.exception
    scene = at.session_state["round_scene"]
    assert at.button(key="submit_guess").disabled  # no guess yet
    at.text_input(key="typed_guess").input("48.85, 2.35")
    at.run()
    at.button(key="submit_guess").click()
    at.run()
    assert not at.exception
    done = at.session_state["round_result"]
    km = float(haversine_km(48.85, 2.35, scene.lat, scene.lon))
    assert done["you"][0] == pytest.approx(km) and done["you"][1] == int(geoguessr_score(km))
    model_km = float(haversine_km(done["pred"].lat, done["pred"].lon, scene.lat, scene.lon))
    assert done["model"][1] == int(geoguessr_score(model_km))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["You"] == f"{done['you'][1]} points" and metrics["Model"] == f"{done['model'][1]} points"
    totals = at.session_state["play_totals"]
    assert totals == {"rounds": 1, "you": done["you"][1], "model": done["model"][1]}
    at.button(key="next_round").click()
    at.run()
    assert "round_result" not in at.session_state and at.session_state["play_totals"]["rounds"] == 1


def test_play_rejects_bad_typed_coordinates(at):
    at.radio(key="mode").set_value("Play against the model")
    at.run()
    at.text_input(key="typed_guess").input("123, 456")
    at.run()
    assert not at.exception
    assert at.error and "invalid coordinate" in at.error[0].value
    assert at.button(key="submit_guess").disabled


def test_model_card_panel(at, tiny_bundle_dir):
    at.radio(key="mode").set_value("Model card")
    at.run()
    assert not at.exception
    text = markdown(at)
    assert "**Trained on:** random weights" in text and "geoloc-tiny-vit" in text
    cfg = json.loads((tiny_bundle_dir / "config.json").read_text())
    assert cfg["card"]["training_command"] in text


def test_synthworld_model_card_warns_about_real_photos(at, monkeypatch):
    from app import page

    geo = page.load_geolocator(str(page.model_path()))
    monkeypatch.setitem(geo.config, "card", {"title": "synthworld-tiny", "data": "SynthWorld scenes, seed 0",
                                             "training_command": "geoloc train preset synthworld-tiny"})
    at.run()
    warnings = [w.value for w in at.warning]
    assert warnings and "SynthWorld" in warnings[0] and "real photos need a model trained on real photos" in warnings[0]


def test_broken_model_gives_one_message_not_a_traceback(tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    monkeypatch.setenv("GEOLOC_MODEL", str(broken))
    app = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    assert len(app.error) == 1 and "manifest" in app.error[0].value


def test_unexpected_errors_are_caught(at, monkeypatch):
    from app import uploads

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(uploads, "locate_uploads", boom)
    at.file_uploader(key="uploads").set_value(("a.jpg", image_bytes(), "image/jpeg"))
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("Something went wrong: RuntimeError: kaboom")
