"""``geoloc cells build`` / ``show`` end to end, and one-line errors on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geoloc.cli import main


def _run(argv, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def small_points():
    from .conftest import benelux_points

    lat, lon = benelux_points()
    keep = (lon > 4.0) & (lon < 6.5) & (lat > 49.4) & (lat < 50.9)  # southern Belgium + Luxembourg
    return lat[keep], lon[keep]


def test_build_and_show(tmp_path, capsys, small_points):
    lat, lon = small_points
    csv = tmp_path / "pts.csv"
    pd.DataFrame({"Latitude": lat, "Longitude": lon}).to_csv(csv, index=False)
    out = tmp_path / "cells.parquet"
    rep = tmp_path / "report.json"
    code, stdout, err = _run(
        [
            "cells",
            "build",
            "--points",
            str(csv),
            "--min-size",
            "10",
            "--max-size",
            "25",
            "--out",
            str(out),
            "--report",
            str(rep),
            "--quiet",
            "--no-admin2",
        ],
        capsys,
    )
    assert code == 0, err
    assert "cells from" in stdout and out.exists()
    report = json.loads(rep.read_text())
    assert report["n_points"] == lat.size and report["relabelled"] == 0
    from geoloc.cells.geocell_set import GeocellSet

    cells = GeocellSet.load(out)
    assert cells.sizes.sum() == lat.size and len(cells) == report["n_cells"]
    png = tmp_path / "map.png"
    code, stdout, err = _run(["cells", "show", str(out), "--png", str(png)], capsys)
    assert code == 0, err
    assert "cells" in stdout and str(len(cells)) in stdout
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_parquet_input_with_lat_lon(tmp_path, capsys, small_points):
    lat, lon = small_points
    pq_file = tmp_path / "pts.parquet"
    pd.DataFrame({"LAT": lat[:200], "LON": lon[:200]}).to_parquet(pq_file)
    code, _, err = _run(
        [
            "cells",
            "build",
            "--points",
            str(pq_file),
            "--min-size",
            "10",
            "--max-size",
            "30",
            "--out",
            str(tmp_path / "c.parquet"),
            "--quiet",
            "--no-admin2",
        ],
        capsys,
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lat,lon\n50.1,4.2\nabc,4.3\n", "non-numeric lat/lon values at row 1"),
        ("lat,lon\n50.1,4.2\n95,4.3\n50,nan\n", "rows 1, 2"),
        ("latitude,elevation\n50.1,4.2\n", "missing required column(s) lon"),
        ("lat,lon\n", "no data rows"),
        ("", "manifest is empty"),
    ],
)
def test_bad_points_file_is_one_line(tmp_path, capsys, content, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    code, _, err = _run(
        [
            "cells",
            "build",
            "--points",
            str(csv),
            "--min-size",
            "1",
            "--max-size",
            "5",
            "--out",
            str(tmp_path / "x.parquet"),
        ],
        capsys,
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_missing_files_are_one_line(tmp_path, capsys):
    code, _, err = _run(
        [
            "cells",
            "build",
            "--points",
            str(tmp_path / "nope.csv"),
            "--min-size",
            "1",
            "--max-size",
            "5",
            "--out",
            "x",
        ],
        capsys,
    )
    assert code == 1 and "not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["cells", "show", str(tmp_path / "nope.parquet")], capsys)
    assert code == 1 and "not found" in err and len(err.strip().splitlines()) == 1


def test_help_lists_commands(capsys):
    code, out, _ = _run(["cells", "--help"], capsys)
    assert code == 0 and "build" in out and "show" in out
    code, out, _ = _run(["cells", "build", "--help"], capsys)
    assert code == 0 and "--min-size" in out and "--no-admin2" in out
