"""Dataset generation: CLI, manifest, determinism across workers, resume, shards."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from geoloc.errors import GeolocError
from geoloc.synth.cli import app
from geoloc.synth.generate import MANIFEST_COLUMNS, generate_dataset, generate_scene

runner = CliRunner()


def _digest(folder) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def test_cli_generate_manifest_and_resume(tmp_path):
    out = tmp_path / "ds"
    res = runner.invoke(app, ["generate", "--n", "6", "--size", "64", "--views", "4", "--seed", "5",
                              "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    man = pd.read_parquet(out / "manifest.parquet")
    csv = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert list(man.columns) == MANIFEST_COLUMNS and len(man) == 24 and len(csv) == 24
    assert list(man["view"][:4]) == [0, 1, 2, 3] and list(man["heading"][:4]) == [0.0, 90.0, 180.0, 270.0]
    assert man.groupby("id")["lat"].nunique().eq(1).all()
    for p in man["path"]:
        assert (out / p).is_file()
    before = _digest(out)
    stamp = {p: (out / p).stat().st_mtime_ns for p in man["path"]}
    # Resume: nothing is re-rendered; a deleted view is rendered again, identical.
    victim = out / man["path"][5]
    victim.unlink()
    res = runner.invoke(app, ["generate", "--n", "6", "--size", "64", "--seed", "5", "--out", str(out),
                              "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert _digest(out) == before
    # Only the scene with the missing view is rendered again (all its views).
    unchanged = man["path"][man["id"] != man["id"][5]]
    assert all((out / p).stat().st_mtime_ns == stamp[p] for p in unchanged)


def test_deterministic_across_workers(tmp_path):
    a = generate_dataset(8, tmp_path / "a", size=48, seed=2, workers=1, progress=False)
    b = generate_dataset(8, tmp_path / "b", size=48, seed=2, workers=2, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_cues_option_changes_images(tmp_path):
    generate_dataset(3, tmp_path / "all", size=48, seed=2, workers=1, progress=False)
    generate_dataset(3, tmp_path / "nosky", size=48, seed=2, workers=1, progress=False, cues="-sky,-nuisance")
    da, db = _digest(tmp_path / "all"), _digest(tmp_path / "nosky")
    pngs = [k for k in da if k.endswith(".png")]
    assert all(da[k] != db[k] for k in pngs)
    res = runner.invoke(app, ["generate", "--n", "2", "--out", str(tmp_path / "x"), "--cues", "colour"])
    assert res.exit_code != 0 and isinstance(res.exception, GeolocError)


def test_shards_round_trip(tmp_path):
    from geoloc.data.shards import read_shards

    res = runner.invoke(app, ["generate", "--n", "5", "--size", "48", "--seed", "1", "--out", str(tmp_path),
                              "--shards", "--maxcount", "2", "--workers", "1"])
    assert res.exit_code == 0, res.output
    tars = sorted((tmp_path / "shards").glob("*.tar"))
    assert len(tars) == 3
    samples = list(read_shards(tmp_path / "shards"))
    man = pd.read_parquet(tmp_path / "manifest.parquet")
    assert [s["id"] for s in samples] == list(man["id"].unique())
    row = man[man["id"] == samples[0]["id"]].iloc[0]
    meta = samples[0]["meta"]
    assert abs(float(meta["lat"]) - row["lat"]) < 1e-9 and meta["country"] == row["country"]
    imgs = samples[0]["images"]
    assert len(imgs) == 4 and np.asarray(imgs[0]).shape == (48, 48, 3)
    # The shard holds the same pixels as the image files (PNG, lossless).
    generate_dataset(5, tmp_path / "files", size=48, seed=1, workers=1, progress=False)
    ref = np.asarray(pd.read_parquet(tmp_path / "files" / "manifest.parquet").pipe(
        lambda m: __import__("PIL.Image").Image.open(tmp_path / "files" / m["path"][0]).convert("RGB")))
    assert np.array_equal(np.asarray(imgs[0]), ref)
    # A second run with the same settings keeps the shards.
    mtimes = [t.stat().st_mtime_ns for t in tars]
    runner.invoke(app, ["generate", "--n", "5", "--size", "48", "--seed", "1", "--out", str(tmp_path),
                        "--shards", "--maxcount", "2", "--workers", "1"])
    assert [t.stat().st_mtime_ns for t in tars] == mtimes


def test_generate_scene_from_lat_lon():
    ims = generate_scene((35.68, 139.76), size=64, views=2, seed=1)
    again = generate_scene((35.68, 139.76), size=64, views=2, seed=1)
    assert len(ims) == 2 and np.array_equal(np.asarray(ims[0]), np.asarray(again[0]))
    with pytest.raises(GeolocError):
        generate_scene((95.0, 0.0), size=64)


def test_cli_scene_and_errors(tmp_path):
    res = runner.invoke(app, ["scene", "--out", str(tmp_path / "s.png"), "--size", "64", "--", "51.5", "-0.12"])
    assert res.exit_code == 0, res.output
    assert "United Kingdom" in res.output and (tmp_path / "s.png").is_file()
    res = runner.invoke(app, ["generate", "--n", "2", "--size", "33", "--out", str(tmp_path / "y")])
    assert isinstance(res.exception, GeolocError)
