"""`geoloc eval` on a small manifest: metrics over the readable locations, bad items counted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from geoloc.cli import app
from geoloc.eval.metrics import distance_errors_km
from geoloc.predict import Geolocator


def test_eval_manifest_skips_and_counts_bad_items(bundle_dir, tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"path": f"{i}.png", "lat": float(rng.uniform(-50, 60)), "lon": float(rng.uniform(-170, 170))})
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    rows.append({"path": "broken.png", "lat": 10.0, "lon": 10.0})
    rows.append({"path": "0.png", "lat": float("nan"), "lon": 0.0})  # invalid row
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)

    res = CliRunner().invoke(app, ["eval", str(tmp_path / "m.csv"), "--model", str(bundle_dir),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "5 of 6 locations evaluated; 1 invalid manifest row(s) and 1 unreadable location(s)" in res.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 5
    for f in ("metrics.md", "error_histogram.png", "error_map.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0

    # the reported median equals the median of the errors of direct predictions
    geo = Geolocator.from_pretrained(bundle_dir)
    preds = geo.predict([str(tmp_path / f"{i}.png") for i in range(5)])
    truth = pd.DataFrame(rows[:5])
    err = distance_errors_km([p.lat for p in preds], [p.lon for p in preds], truth.lat, truth.lon)
    assert abs(metrics["median_km"] - float(np.median(err))) < 1e-6


def test_eval_nothing_readable_is_one_line_error(bundle_dir, tmp_path):
    from geoloc.cli import main

    (tmp_path / "x.png").write_bytes(b"")
    pd.DataFrame([{"path": "x.png", "lat": 1.0, "lon": 2.0}]).to_csv(tmp_path / "m.csv", index=False)
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["eval", str(tmp_path / "m.csv"), "--model", str(bundle_dir)])
    assert exc.value.code == 1


def test_eval_record_writes_the_metrics_into_the_model_card(bundle_dir, tmp_path, monkeypatch):
    import shutil
    import sys

    from geoloc.bundle import load_bundle

    model = tmp_path / "b"
    shutil.copytree(bundle_dir, model)
    rng = np.random.default_rng(1)
    rows = []
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"path": f"{i}.png", "lat": float(rng.uniform(-50, 60)), "lon": float(rng.uniform(-170, 170))})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    args = ["eval", str(tmp_path / "m.csv"), "--model", str(model), "--out", str(tmp_path / "out"),
            "--record", "held out", "--data", "three noise images"]
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/geoloc", *args])  # what the entry point sees
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    ev = load_bundle(model).config["card"]["evaluations"]["held out"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert ev["data"] == "three noise images" and ev["metrics"]["locations"] == 3
    assert ev["metrics"]["median_km"] == round(metrics["median_km"], 4)
    assert ev["command"] == (f"geoloc eval {tmp_path / 'm.csv'} --model {model} --out {tmp_path / 'out'} "
                             "--record 'held out' --data 'three noise images'")


def test_command_line_names_the_sub_command_group(monkeypatch):
    import sys

    from geoloc.frontend import command_line

    monkeypatch.setattr(sys, "argv", ["/x/bin/geoloc", "train", "run", "--set", "tau_km=65", "--out", "a b"])
    assert command_line("train") == "geoloc train run --set tau_km=65 --out 'a b'"
    monkeypatch.setattr(sys, "argv", ["/repo/geoloc/refine/cli.py", "build", "--model", "m"])  # python -m / torchrun
    assert command_line("refine") == "geoloc refine build --model m"
    assert command_line() == "geoloc build --model m"
