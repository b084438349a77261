"""Metrics against hand-computed cases on the equator (1 degree of longitude = 2 pi R / 360 km)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from geoloc.errors import CoordinateError
from geoloc.eval import (
    accuracy_at_km,
    distance_errors_km,
    geolocation_metrics,
    label_accuracy,
    markdown_table,
    report,
)
from geoloc.geo.distance import EARTH_RADIUS_KM

KM_PER_DEG = 2 * math.pi * EARTH_RADIUS_KM / 360  # 111.195 km


def _case():
    # true points on the equator; predictions shifted east by these many degrees
    shifts = np.array([0.0, 0.005, 0.2, 1.0, 5.0, 20.0, 90.0])
    true_lat = np.zeros(7)
    true_lon = np.linspace(-100, 50, 7)
    return true_lat, true_lon + shifts, true_lat, true_lon, shifts * KM_PER_DEG


def test_errors_are_arc_lengths():
    pl, po, tl, to, km = _case()
    np.testing.assert_allclose(distance_errors_km(pl, po, tl, to), km, rtol=1e-9, atol=1e-9)


def test_hand_computed_metrics():
    pl, po, tl, to, km = _case()
    # errors: 0, 0.556, 22.2, 111.2, 556.0, 2223.9, 10007.5 km
    m = geolocation_metrics(pl, po, tl, to)
    assert m["n"] == 7
    assert m["acc@1km"] == pytest.approx(2 / 7)
    assert m["acc@25km"] == pytest.approx(3 / 7)
    assert m["acc@200km"] == pytest.approx(4 / 7)
    assert m["acc@750km"] == pytest.approx(5 / 7)
    assert m["acc@2500km"] == pytest.approx(6 / 7)
    assert m["median_km"] == pytest.approx(KM_PER_DEG)
    assert m["mean_km"] == pytest.approx(116.205 * KM_PER_DEG / 7)
    expected = np.mean([round(5000 * math.exp(-d / 1492.7)) for d in km])
    assert m["geoguessr_score"] == pytest.approx(expected)
    assert 5000 in [round(5000 * math.exp(-d / 1492.7)) for d in km]


def test_threshold_is_inclusive():
    assert accuracy_at_km([25.0, 25.0001], [25.0]) == {"acc@25km": 0.5}


def test_label_accuracy_skips_unknown_truth():
    # known truths: rows 0-2 (FR hit, DE vs FR miss, missing prediction miss); rows 3-4 unknown
    acc, n = label_accuracy(["FR", "DE", None, "IT", "ES"], ["FR", "FR", "DE", None, ""])
    assert n == 3 and acc == pytest.approx(1 / 3)
    acc, n = label_accuracy(["FR", None], ["FR", "DE"])
    assert (acc, n) == (0.5, 2)  # a missing prediction counts as wrong
    acc, n = label_accuracy([None], [float("nan")])
    assert math.isnan(acc) and n == 0


def test_admin_accuracy_in_metrics():
    pl, po, tl, to, _ = _case()
    m = geolocation_metrics(pl, po, tl, to, pred_country=list("AABBCCD"), true_country=list("AABBCCE"),
                            pred_admin1=["x"] * 7, true_admin1=["x", "y", None, None, None, None, None])
    assert m["country_acc"] == pytest.approx(6 / 7) and m["n_country"] == 7
    assert m["admin1_acc"] == 0.5 and m["n_admin1"] == 2


def test_bad_coordinates_named():
    with pytest.raises(CoordinateError, match=r"predicted coordinates.*row 1"):
        distance_errors_km([0, 91], [0, 0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        distance_errors_km([0, 0], [0, 0], [0], [0])


def test_markdown_table_columns_and_values():
    pl, po, tl, to, _ = _case()
    m = geolocation_metrics(pl, po, tl, to)
    md = markdown_table({"full": m, "no refinement": {**m, "acc@1km": 0.0}})
    lines = md.strip().splitlines()
    assert lines[0].startswith("| model | n | 1km % | 25km % | 200km % | 750km % | 2500km % | median km")
    assert len(lines) == 4
    assert lines[2].split("|")[3].strip() == f"{100 * 2 / 7:.1f}"
    assert lines[3].split("|")[3].strip() == "0.0"
    assert "country" not in lines[0]


def test_report_writes_json_markdown_and_pngs(tmp_path):
    pl, po, tl, to, _ = _case()
    rep = report(pl, po, tl, to, out_dir=tmp_path, name="tiny", pred_country=["FR"] * 7, true_country=["FR"] * 7)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["name"] == "tiny" and data["acc@25km"] == pytest.approx(3 / 7) and data["country_acc"] == 1.0
    assert (tmp_path / "metrics.md").read_text() == rep.markdown
    for key in ("histogram", "map"):
        png = rep.files[key]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_report_without_output_dir():
    pl, po, tl, to, _ = _case()
    rep = report(pl, po, tl, to)
    assert rep.files == {} and "| model |" in rep.markdown


def test_admin_labels_from_coordinates():
    from geoloc.eval import admin_labels

    # Paris, Lyon (both FRA, different admin-1), Berlin, mid-Atlantic (unknown)
    lat = [48.8566, 45.764, 52.52, 30.0]
    lon = [2.3522, 4.8357, 13.405, -40.0]
    country, admin1 = admin_labels(lat, lon)
    assert list(country) == ["FRA", "FRA", "DEU", None]
    assert admin1[0] != admin1[1] and admin1[3] is None
    rep = report([48.85, 52.5, 45.76], [2.35, 13.4, 4.83], [48.86, 48.86, 30.0], [2.35, 2.35, -40.0],
                 admin_from_coordinates=True)
    # truths: FRA, FRA, unknown (sea) -> 2 scored, one right (Paris), one wrong (Berlin)
    assert rep.metrics["country_acc"] == 0.5 and rep.metrics["n_country"] == 2
    assert rep.metrics["admin1_acc"] == 0.5 and rep.metrics["n_admin1"] == 2
