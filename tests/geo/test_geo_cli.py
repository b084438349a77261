"""``geoloc geo`` commands through typer's CliRunner, and the one-line error of the main wrapper."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from geoloc.errors import CoordinateError, GeolocError
from geoloc.geo.cli import app
from geoloc.geo.distance import haversine_km

runner = CliRunner()


def test_distance_with_negative_coordinates():
    res = runner.invoke(app, ["distance", "48.8566", "2.3522", "40.7128", "-74.0060", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["distance_km"] == pytest.approx(haversine_km(48.8566, 2.3522, 40.7128, -74.0060))
    assert out["score_world_map"] == round(5000 * math.exp(-10 * out["distance_km"] / 14916.862))
    plain = runner.invoke(app, ["distance", "-33.87", "151.21", "-33.87", "151.21"])
    assert plain.exit_code == 0 and plain.output.startswith("0.000 km") and "5000" in plain.output


def test_lookup_json_and_text():
    res = runner.invoke(app, ["lookup", "48.8566", "2.3522", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert (info["adm0_a3"], info["admin1"], info["land"]) == ("FRA", "Paris", True)
    assert info["nearest_place"]["name"] == "Paris" and info["nearest_place"]["admin1"] == "Ile-de-France"
    sea = runner.invoke(app, ["lookup", "0", "-30"])
    assert sea.exit_code == 0 and "(sea)" in sea.output and "admin:   none" in sea.output
    coast = json.loads(runner.invoke(app, ["lookup", "-33.95", "151.30", "--json"]).output)
    assert coast["adm0_a3"] == "AUS" and not coast["land"] and 0 < coast["admin_distance_km"] <= 25


def test_score():
    res = runner.invoke(app, ["score", "107.9", "--json"])
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert out["score_map_size"] == 4651
    assert out["score_pigeon"] == round(5000 * math.exp(-107.9 / 1492.7))


def test_bad_input_raises_user_errors():
    res = runner.invoke(app, ["distance", "0", "0", "0", "200"])
    assert isinstance(res.exception, CoordinateError) and "point 2" in str(res.exception)
    res = runner.invoke(app, ["lookup", "abc", "0"])
    assert isinstance(res.exception, CoordinateError) and "LAT" in str(res.exception)
    res = runner.invoke(app, ["score", "--", "-5"])
    assert isinstance(res.exception, GeolocError)


def test_help_for_every_command():
    for cmd in ([], ["distance"], ["lookup"], ["score"]):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output


def test_main_wrapper_prints_one_line():
    proc = subprocess.run(
        [sys.executable, "-c", "from geoloc.cli import main; main()", "geo", "distance", "0", "0", "95", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: point 2")
