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


def test_predict_a_folder_takes_its_images_recursively_sorted(bundle_dir, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    (photos / ".hidden").mkdir()
    b = _image(photos / "b.png", 0)
    a = _image(photos / "sub" / "a.JPG", 1)
    _image(photos / ".hidden" / "x.png", 2)
    (photos / "notes.txt").write_text("not an image")
    res = CliRunner().invoke(app, ["predict", str(photos), "--model", str(bundle_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert [p["source"] for p in json.loads(res.stdout)] == sorted([a, b])
    assert f"{photos}: 2 images" in res.stderr


def test_predict_an_empty_folder_says_what_it_is(bundle_dir, tmp_path):
    from geoloc.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["predict", str(tmp_path / "empty"), "--model", str(bundle_dir)])
    assert exc.value.code == 1
