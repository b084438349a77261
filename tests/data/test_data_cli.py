"""`geoloc data ...` commands through typer's CliRunner and the real entry point."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from datahelpers import write_manifest_folder
from typer.testing import CliRunner

from geoloc.data.cli import app
from geoloc.data.shards import read_shards
from geoloc.errors import InputFileError

runner = CliRunner()


def test_help_of_every_command():
    for cmd in ("validate", "exif", "convert", "shard"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output


def test_validate_reports_rows_and_writes_clean(tmp_path):
    df = write_manifest_folder(tmp_path, n=3)
    df.loc[1, "lat"] = float("nan")
    df.loc[2, "path"] = "img/gone.jpg"
    df.to_csv(tmp_path / "m.csv", index=False)
    res = runner.invoke(app, ["validate", str(tmp_path / "m.csv"), "--out", str(tmp_path / "clean.csv")])
    assert res.exit_code == 0, res.output
    assert "3 rows, 1 valid, 2 skipped" in res.output
    assert "invalid coordinates: 1 at row 1" in res.output and "missing file: 1 at row 2" in res.output
    assert len(pd.read_csv(tmp_path / "clean.csv")) == 1
    res = runner.invoke(app, ["validate", str(tmp_path / "m.csv"), "--strict"])
    assert res.exit_code != 0 and isinstance(res.exception, InputFileError)


def test_exif_command(exif_dir, tmp_path):
    (tmp_path / "plain.png").write_bytes(b"")
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "nogps.png")
    res = runner.invoke(app, ["exif", str(exif_dir / "jpg_Nikon_D5000.jpg"), str(tmp_path / "nogps.png"),
                              str(tmp_path / "plain.png")])
    assert res.exit_code == 0, res.output
    assert "48.888726, 21.043251" in res.output
    assert "nogps.png: no GPS" in res.output
    assert "plain.png: error" in res.output


def test_convert_command(tmp_path):
    src = tmp_path / "im2gps.csv"
    src.write_text("IMG_ID,AUTHOR,LON,LAT\na.jpg,me,45.0,120.0\nb.jpg,me,-10.0,-60.0\n")
    out = tmp_path / "m.parquet"
    res = runner.invoke(app, ["convert", "--format", "im2gps", str(src), str(out), "--image-dir", "imgs"])
    assert res.exit_code == 0, res.output
    assert "swapped" in res.output  # the warning is shown
    df = pd.read_parquet(out)
    assert df["lat"].tolist() == [45.0, -10.0] and df["lon"].tolist() == [120.0, -60.0]
    assert df["path"].tolist() == ["imgs/a.jpg", "imgs/b.jpg"]
    res = runner.invoke(app, ["convert", "--format", "nope", str(src), str(out)])
    assert res.exit_code != 0 and "unknown benchmark format" in str(res.exception)


def test_shard_command(tmp_path):
    df = write_manifest_folder(tmp_path, n=5, views=4)
    df.to_csv(tmp_path / "m.csv", index=False)
    res = runner.invoke(app, ["shard", str(tmp_path / "m.csv"), str(tmp_path / "out"), "--maxcount", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote 5 samples into 3 shard(s)" in res.output
    ids = [s["id"] for s in read_shards(tmp_path / "out", decode=False)]
    assert ids == [f"loc{i}" for i in range(5)]


@pytest.mark.parametrize("argv", [["data", "validate", "/nonexistent/m.csv"]])
def test_entry_point_one_line_error(argv):
    res = subprocess.run([sys.executable, "-m", "geoloc.cli", *argv], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error:") and "manifest not found" in res.stderr
    assert "Traceback" not in res.stderr
