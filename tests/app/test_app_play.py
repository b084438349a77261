"""Samples and the game: scoring, typed and clicked guesses, the click grid, model card, CLI command."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from app import cli, modelinfo, samples
from geoloc.errors import BundleError, CoordinateError
from geoloc.geo import haversine_km, is_land


@pytest.mark.parametrize(("guess", "truth"), [((48.85, 2.35), (48.85, 2.35)), ((48.85, 2.35), (40.71, -74.0)),
                                              ((-33.9, 151.2), (51.5, -0.12))])
def test_score_guess_is_the_geoguessr_formula(guess, truth):
    km, pts = samples.score_guess(guess, truth)
    assert km == pytest.approx(float(haversine_km(*guess, *truth)))
    assert pts == round(5000 * math.exp(-km / 1492.7))
    with pytest.raises(CoordinateError):
        samples.score_guess((95.0, 0.0), truth)


def test_parse_coordinates():
    assert samples.parse_coordinates("48.85, 2.35") == (48.85, 2.35)
    assert samples.parse_coordinates(" -33.9 151.2 ") == (-33.9, 151.2)
    assert samples.parse_coordinates("10;-20") == (10.0, -20.0)
    for bad in ["", "48.85", "a, b", "1, 2, 3", "91, 0", "0, 181", "nan, 0"]:
        with pytest.raises(CoordinateError):
            samples.parse_coordinates(bad)


def test_guess_from_selection_event():
    event = {"selection": {"indices": {"click_grid": [7]},
                           "objects": {"click_grid": [{"lat": 12.5, "lon": -3.5, "label": "x"}]}}}
    assert samples.guess_from_selection(event) == (12.5, -3.5)
    assert samples.guess_from_selection({"selection": {"indices": {}, "objects": {}}}) is None
    assert samples.guess_from_selection({"selection": {"objects": {"top_k": [{"lat": 1, "lon": 2}]}}}) is None
    assert samples.guess_from_selection(None) is None
    assert samples.guess_from_selection({"selection": {"objects": {"click_grid": [{"lat": 99, "lon": 0}]}}}) is None


def test_click_grid_is_land_on_a_regular_grid():
    grid = samples.click_grid(2.0)
    lat = np.array([g["lat"] for g in grid])
    lon = np.array([g["lon"] for g in grid])
    assert is_land(lat, lon).all()
    assert np.allclose((lat + 60 - 1.0) % 2.0, 0) and np.allclose((lon + 180 - 1.0) % 2.0, 0)
    # a regular 2-degree grid has ~29% of its -60..84 cells on land
    assert 0.2 < lat.size / (72 * 180) < 0.45


def test_samples_render_known_places():
    s = samples.render_sample("Tokyo", 64)
    assert (s.lat, s.lon) == (35.68, 139.76) and len(s.views) == 4
    assert all(v.size == (64, 64) and v.mode == "RGB" for v in s.views)
    again = samples.render_sample("Tokyo", 64)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(s.views, again.views, strict=True))
    assert samples.scene_size(64) == 128 and samples.scene_size(225) == 226 and samples.scene_size(4096) == 512
    with pytest.raises(Exception, match="unknown sample"):
        samples.render_sample("Atlantis")


def test_random_round_is_seeded():
    a, b = samples.random_round(7, 64), samples.random_round(7, 64)
    assert (a.lat, a.lon) == (b.lat, b.lon) and -90 <= a.lat <= 90
    assert samples.random_round(8, 64).lat != a.lat


def test_model_card(geolocator, tiny_bundle_dir, monkeypatch):
    card = modelinfo.model_card(geolocator, tiny_bundle_dir)
    assert card.num_cells == len(geolocator.bundle.geocells) and card.tower == "geoloc-tiny-vit"
    assert not card.synthworld and card.note == ""
    assert card.content_hash == geolocator.bundle.content_hash
    monkeypatch.setitem(geolocator.config, "card", {"data": "SynthWorld 20k scenes", "training_command": "x"})
    synth = modelinfo.model_card(geolocator, tiny_bundle_dir)
    assert synth.synthworld and "SynthWorld" in synth.note and "real photos" in synth.note


def test_default_model_is_flagged(monkeypatch, tmp_path):
    from geoloc import default_model

    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path))
    assert modelinfo.is_default_model(default_model.SHIPPED_DIR)
    assert modelinfo.is_default_model(tmp_path / "models" / default_model.DEFAULT_MODEL_NAME)
    assert not modelinfo.is_default_model(tmp_path)


def test_model_path_resolution(tiny_bundle_dir, monkeypatch, tmp_path):
    assert modelinfo.model_arg(["--model", "/a/b"]) == "/a/b"
    assert modelinfo.model_arg(["-x", "1"]) is None
    assert modelinfo.resolve_model_path(str(tiny_bundle_dir)) == tiny_bundle_dir
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    assert modelinfo.resolve_model_path(None) == tiny_bundle_dir
    with pytest.raises(BundleError, match="no such bundle folder"):
        modelinfo.resolve_model_path(str(tmp_path / "nope"))


def test_streamlit_command_is_loopback_without_telemetry(tmp_path):
    cmd = cli.streamlit_command(tmp_path, 8765)
    assert cmd[:4] == [sys.executable, "-m", "app.launch", "run"] and cmd[4] == str(cli.APP_SCRIPT)
    opts = dict(zip(cmd[5:-3:2], cmd[6:-3:2], strict=True))
    assert opts["--server.address"] == "127.0.0.1" and opts["--server.port"] == "8765"
    assert opts["--browser.gatherUsageStats"] == "false" and opts["--client.showErrorDetails"] == "none"
    assert cmd[-3:] == ["--", "--model", str(tmp_path)]
    assert opts["--server.headless"] == "true"  # no first-run e-mail prompt, no developer nudges
    env = cli.app_environment(tmp_path)
    assert env["GEOLOC_MODEL"] == str(tmp_path) and env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert env["STREAMLIT_SERVER_HEADLESS"] == "true" and env["STREAMLIT_LOGGER_HIDE_WELCOME_MESSAGE"] == "true"


def test_streamlit_env_names_follow_streamlits_rule():
    from streamlit import config

    for key in cli.STREAMLIT_PRODUCT_OPTIONS:
        assert key in config._config_options_template  # a real option of the installed Streamlit
    assert cli.streamlit_env_name("server.fileWatcherType") == "STREAMLIT_SERVER_FILE_WATCHER_TYPE"


def test_cli_runs_streamlit_with_the_resolved_model(tiny_bundle_dir, monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env, stdin):
            seen["cmd"], seen["env"], seen["stdin"] = cmd, env, stdin

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    before = os.environ.get("GEOLOC_MODEL")
    r = CliRunner().invoke(cli.app, ["--model", str(tiny_bundle_dir), "--port", "8600", "--headless"])
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:8600" in r.output
    assert seen["cmd"][-1] == str(tiny_bundle_dir.resolve()) and "8600" in seen["cmd"]
    assert seen["env"]["GEOLOC_MODEL"] == str(tiny_bundle_dir.resolve())
    assert seen["stdin"] == cli.subprocess.DEVNULL  # never waits on a prompt
    assert os.environ.get("GEOLOC_MODEL") == before  # only the child's environment carries the model


def test_cli_errors_are_geoloc_errors(tmp_path):
    r = CliRunner().invoke(cli.app, ["--model", str(tmp_path / "missing")])
    assert r.exit_code != 0 and isinstance(r.exception, BundleError)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    r = CliRunner().invoke(cli.app, ["--model", str(tmp_path / "broken")])
    assert isinstance(r.exception, BundleError)
    r = CliRunner().invoke(cli.app, ["--help"])
    assert r.exit_code == 0 and "--model" in r.output and "--port" in r.output
