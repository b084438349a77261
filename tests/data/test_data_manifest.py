"""Manifest reading (aliases, CSV/Parquet) and validation that names bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datahelpers import write_manifest_folder

from geoloc.data.manifest import (
    REASON_BAD_COORDINATES,
    REASON_BAD_VIEW,
    REASON_DUPLICATE,
    REASON_DUPLICATE_ID,
    REASON_EMPTY_FILE,
    REASON_MISSING_FILE,
    normalize_columns,
    read_manifest,
    resolve_paths,
    validate_manifest,
    write_manifest,
)
from geoloc.errors import InputFileError


def test_aliases_are_normalised():
    df = pd.DataFrame({"Latitude": [1.0], "LNG": [2.0], "FilePath": ["a.jpg"], "pano_id": ["x"],
                       "Heading": [90], "country": ["FR"]})
    out = normalize_columns(df)
    assert list(out.columns) == ["lat", "lon", "path", "id", "heading", "country"]
    # a canonical column wins over an alias; the alias stays as metadata
    df2 = pd.DataFrame({"lat": [1.0], "latitude": [5.0], "lon": [2.0], "image": ["a.jpg"]})
    assert list(normalize_columns(df2).columns) == ["lat", "latitude", "lon", "path"]
    with pytest.raises(InputFileError, match="all look like 'path'"):
        normalize_columns(pd.DataFrame({"lat": [1], "lon": [2], "image": ["a"], "file": ["b"]}))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".tsv"])
def test_round_trip_and_root(tmp_path, suffix):
    df = write_manifest_folder(tmp_path, n=3)
    path = write_manifest(df.rename(columns={"lat": "LAT", "lon": "LON", "path": "image"}),
                          tmp_path / f"m{suffix}")
    back = read_manifest(path)
    assert {"lat", "lon", "path", "id", "view", "heading", "country", "month"} <= set(back.columns)
    np.testing.assert_allclose(back["lat"], df["lat"])
    assert back.attrs["root"] == str(tmp_path.resolve())
    assert all(p.is_file() for p in resolve_paths(back))
    clean, report = validate_manifest(back)
    assert report.ok and len(clean) == 3


def test_missing_columns_named(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame({"latitude": [1.0], "foo": ["a.jpg"]}).to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"missing required column\(s\) lon, path"):
        read_manifest(path)
    # label-only tables may omit the path
    pd.DataFrame({"latitude": [1.0], "lon": [3.0]}).to_csv(path, index=False)
    assert len(read_manifest(path, require_path=False)) == 1


def test_missing_empty_and_garbage_manifest_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_manifest(tmp_path / "e.csv")
    (tmp_path / "g.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match="cannot read manifest"):
        read_manifest(tmp_path / "g.parquet")


def test_validation_names_each_bad_row(tmp_path):
    df = write_manifest_folder(tmp_path, n=2, views=2)  # rows 0..3 good
    (tmp_path / "img" / "empty.jpg").write_bytes(b"")
    bad = pd.DataFrame([
        {"id": "b1", "view": 0, "lat": np.nan, "lon": 3.0, "path": "img/loc0_v0.jpg"},    # row 4
        {"id": "b2", "view": 0, "lat": 91.0, "lon": 3.0, "path": "img/loc0_v0.jpg"},     # row 5
        {"id": "b3", "view": 0, "lat": 1.0, "lon": -180.5, "path": "img/loc0_v0.jpg"},   # row 6
        {"id": "b4", "view": 0, "lat": "abc", "lon": 3.0, "path": "img/loc0_v0.jpg"},    # row 7
        {"id": "b5", "view": 0, "lat": 1.0, "lon": 3.0, "path": "img/missing.jpg"},      # row 8
        {"id": "loc0", "view": 1, "lat": 10.0, "lon": -20.0, "path": "img/loc0_v1.jpg"},  # row 9 dup
        {"id": "b6", "view": 1.5, "lat": 1.0, "lon": 3.0, "path": "img/loc0_v0.jpg"},    # row 10
        {"id": "b7", "view": 0, "lat": 1.0, "lon": 3.0, "path": "img/empty.jpg"},        # row 11
    ])
    full = pd.concat([df, bad], ignore_index=True)
    full.attrs["root"] = str(tmp_path)
    clean, report = validate_manifest(full)
    assert report.n_rows == 12 and report.n_valid == 4 and len(clean) == 4
    assert list(report.bad_rows) == [4, 5, 6, 7, 8, 9, 10, 11]
    reasons = {p.row: p.reason for p in report.problems}
    assert reasons == {4: REASON_BAD_COORDINATES, 5: REASON_BAD_COORDINATES, 6: REASON_BAD_COORDINATES,
                       7: REASON_BAD_COORDINATES, 8: REASON_MISSING_FILE, 9: REASON_DUPLICATE,
                       10: REASON_BAD_VIEW, 11: REASON_EMPTY_FILE}
    assert "first at row 1" in next(p.detail for p in report.problems if p.row == 9)
    assert report.counts()[REASON_BAD_COORDINATES] == 4
    summary = report.summary()
    assert "rows 4, 5, 6, 7" in summary and "missing.jpg" in summary
    assert clean["lat"].dtype == np.float64 and clean["view"].dtype == np.int64
    # strict mode raises naming the rows
    with pytest.raises(InputFileError, match=r"rows 4, 5, 6, 7"):
        validate_manifest(full, strict=True)
    # without file checks, the missing/empty files pass
    _, report2 = validate_manifest(full, check_files=False)
    assert set(report2.bad_rows) == {4, 5, 6, 7, 9, 10}


def test_duplicate_id_without_view_column(tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "a"], "lat": [1, 2, 3], "lon": [1, 2, 3], "path": ["x"] * 3})
    _, report = validate_manifest(df, check_files=False)
    assert [(p.row, p.reason) for p in report.problems] == [(2, REASON_DUPLICATE_ID)]


def test_clean_rows_equal_reference_filter(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    lat = rng.uniform(-120, 120, n)
    lon = rng.uniform(-200, 200, n)
    lat[rng.integers(0, n, 20)] = np.nan
    df = pd.DataFrame({"lat": lat, "lon": lon, "path": [f"{i}.jpg" for i in range(n)]})
    clean, report = validate_manifest(df, check_files=False)
    keep = np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    np.testing.assert_array_equal(clean["lat"].to_numpy(), lat[keep])
    assert report.n_bad == (~keep).sum()
    assert list(report.bad_rows) == list(np.flatnonzero(~keep))


def test_unnamed_index_column_is_noted(tmp_path):
    df = write_manifest_folder(tmp_path, n=1)
    df.to_csv(tmp_path / "m.csv")  # with the index
    _, report = validate_manifest(read_manifest(tmp_path / "m.csv"))
    assert report.ok and any("Unnamed" in n for n in report.notes)


def test_ids_and_paths_read_as_text(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("pano_id,view,LAT,LON,image\n00123,0,1.5,2.5,0042\n00123,1,1.5,2.5,0043\n")
    df = read_manifest(path)
    assert df["id"].tolist() == ["00123", "00123"] and df["path"].tolist() == ["0042", "0043"]
    assert df["lat"].dtype == np.float64


def test_package_exports_resolve_lazily():
    import subprocess
    import sys

    import geoloc.data as d

    assert all(getattr(d, n) is not None for n in d.__all__) and len(d.__all__) >= 40
    code = ("import sys, geoloc.data as d; "
            "d.read_manifest; d.load_image; d.read_exif_gps; d.split_panorama; d.write_shards; d.read_im2gps; "
            "assert 'torch' not in sys.modules, 'geoloc.data imported torch'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
