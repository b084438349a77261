"""`geoloc predict`: table and JSON output on a tiny bundle; a bad file fails alone, exit 1."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from geoloc.cli import app


def _image(path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_predict_json_and_table(bundle_dir, tmp_path):
    a, b = _image(tmp_path / "a.png", 0), _image(tmp_path / "b.png", 1)
    res = CliRunner().invoke(app, ["predict", a, b, "--model", str(bundle_dir), "--json", "--top-k", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [p["source"] for p in out] == [a, b]
    for p in out:
        assert p["error"] is None and len(p["top_k"]) == 3
        assert -90 <= p["lat"] <= 90 and -180 <= p["lon"] <= 180
        probs = [t["probability"] for t in p["top_k"]]
        assert probs == sorted(probs, reverse=True)
    res = CliRunner().invoke(app, ["predict", a, "--model", str(bundle_dir)])
    assert res.exit_code == 0 and res.stdout.startswith(f"{a}: ")


def test_predict_bad_file_reported_and_exit_1(bundle_dir, tmp_path):
    good = _image(tmp_path / "good.png", 2)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    res = CliRunner().invoke(app, ["predict", good, str(bad), "--model", str(bundle_dir)])
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith(f"{good}: ") and "error" not in lines[0]
    assert any(line.startswith(f"{bad}: error:") for line in lines)
