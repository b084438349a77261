"""What keeps the page fast: outlines served once as a static file, compact map JSON, the model shared by
every session and warmed up when the server starts (app.launch + app.warmup)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from pydeck.bindings.json_tools import serialize
from shapely.geometry import shape

from app import cli, launch, warmup
from app.mapview import build_deck
from app.outlines import OUTLINES_URL, STATIC_OUTLINES, outlines_json
from geoloc.errors import BundleError


def test_static_outlines_file_is_the_generated_outlines():
    """app/static/countries.json is what `python -m app.outlines` writes today (same countries, same shapes
    up to a rounding-size sliver: a GEOS version may simplify a vertex differently)."""
    shipped = json.loads(STATIC_OUTLINES.read_text(encoding="utf-8"))
    fresh = json.loads(outlines_json())
    assert shipped["type"] == "FeatureCollection"
    assert [f["properties"] for f in shipped["features"]] == [f["properties"] for f in fresh["features"]]
    for a, b in zip(shipped["features"], fresh["features"], strict=True):
        ga, gb = shape(a["geometry"]), shape(b["geometry"])
        assert ga.symmetric_difference(gb).area <= 1e-3 * gb.area + 1e-2, a["properties"]
    assert 100_000 < STATIC_OUTLINES.stat().st_size < 1_000_000


def test_streamlit_serves_the_static_folder_and_the_map_names_it():
    assert cli.STREAMLIT_PRODUCT_OPTIONS["server.enableStaticServing"] == "true"
    assert STATIC_OUTLINES.parent == cli.APP_SCRIPT.parent / "static"  # Streamlit's folder: next to the script
    assert OUTLINES_URL == f"app/static/{STATIC_OUTLINES.name}" and "://" not in OUTLINES_URL
    doc = json.loads(build_deck(None).to_json())
    assert {layer["id"]: layer["data"] for layer in doc["layers"]}["countries"] == OUTLINES_URL


def test_deck_json_is_pydecks_document_without_whitespace(geolocator):
    from PIL import Image

    pred = geolocator.predict(Image.new("RGB", (64, 64), (90, 160, 60)))[0]
    deck = build_deck(pred, geocells=geolocator.bundle.geocells, exif=(10.0, 20.0))
    compact = deck.to_json()
    assert json.loads(compact) == json.loads(serialize(deck))  # pydeck's own (indented) serialisation
    assert compact == json.dumps(json.loads(compact), sort_keys=True, separators=(",", ":"))  # no whitespace
    assert len(compact) < 0.7 * len(serialize(deck))


def test_shared_geolocator_loads_once_for_concurrent_sessions(tiny_bundle_dir, monkeypatch):
    import geoloc.sources

    monkeypatch.setattr(warmup, "_MODELS", {})
    calls = []
    real = geoloc.sources.load_predictor

    def counting(source, *args, **kwargs):
        calls.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(geoloc.sources, "load_predictor", counting)
    got = [None] * 4
    barrier = threading.Barrier(4)

    def session(i):
        barrier.wait()
        got[i] = warmup.shared_geolocator(tiny_bundle_dir)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got)
    assert warmup.is_loaded(tiny_bundle_dir) and warmup.shared_geolocator(str(tiny_bundle_dir)) is got[0]


def test_broken_bundle_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "_MODELS", {})
    for _ in range(2):  # raised each time, nothing kept
        with pytest.raises(BundleError):
            warmup.shared_geolocator(tmp_path / "missing")
    assert not warmup.is_loaded(tmp_path / "missing")


def test_warm_up_runs_the_page_pipeline_once(tiny_bundle_dir, monkeypatch, capsys):
    monkeypatch.setattr(warmup, "_MODELS", {})
    seconds = warmup.warm_up(tiny_bundle_dir)
    assert seconds > 0 and warmup.is_loaded(tiny_bundle_dir)
    monkeypatch.setattr(warmup, "_MODELS", {})
    import torch

    threads = torch.get_num_threads()
    warmup.start_warm_up(tiny_bundle_dir, threads=1).join(timeout=120)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
    assert warmup.is_loaded(tiny_bundle_dir) and "geoloc app: model ready" in capsys.readouterr().err
    warmup.start_warm_up(tiny_bundle_dir / "missing").join(timeout=30)  # one line, never an exception
    assert "model warm-up failed" in capsys.readouterr().err


def test_launcher_warms_the_named_model_then_runs_streamlits_command_line(tiny_bundle_dir, monkeypatch):
    import streamlit.web.cli

    seen = {}
    monkeypatch.setattr(warmup, "start_warm_up", lambda path, threads=None: seen.setdefault("warm", path))
    monkeypatch.setattr(streamlit.web.cli, "main", lambda prog_name: seen.setdefault("argv", list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["x"])
    cmd = cli.streamlit_command(tiny_bundle_dir, 8123)
    assert cmd[1:3] == ["-m", "app.launch"]
    launch.main(cmd[3:])
    assert Path(seen["warm"]).resolve() == tiny_bundle_dir.resolve()  # the source spec of the bundle folder
    assert seen["argv"] == ["streamlit", *cmd[3:]]  # exactly `streamlit run app/streamlit_app.py ...`
    seen.clear()
    launch.main(["run", str(cli.APP_SCRIPT), "--", "--model", str(tiny_bundle_dir / "missing")])
    assert seen["warm"] is None and seen["argv"][:2] == ["streamlit", "run"]  # the page reports the bad bundle
