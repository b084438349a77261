"""Benchmark label formats, each written here in its published layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from geoloc.data.formats import (
    ColumnOrderWarning,
    detect_swapped_lat_lon,
    read_benchmark,
    read_im2gps,
    read_osv5m,
    read_yfcc,
)
from geoloc.data.manifest import REASON_BAD_COORDINATES, validate_manifest
from geoloc.errors import InputFileError

IM2GPS_HEADER = "IMG_ID,AUTHOR,{a},{b},S3_Label,S16_Label,S365_Label,Prob_indoor,Prob_natural,Prob_urban\n"
IM2GPS_ROWS = [  # (img, author, lat, lon) in the layout of GeoEstimation meta/im2gps*_places365.csv
    ("104123223_7410c654ba_19_19355699@N00.jpg", "19355699@N00", -16.663606, 145.563537),
    ("1005977048_5ccf8b05d3_1201_91728102@N00.jpg", "91728102@N00", 29.976052, 122.390356),
    ("1023756068_20c3ffc329_1039_70323761@N00.jpg", "70323761@N00", 40.807694, -73.962262),
]


def _im2gps(path, header=("LAT", "LON")):
    text = IM2GPS_HEADER.format(a=header[0], b=header[1])
    for img, author, lat, lon in IM2GPS_ROWS:
        text += f"{img},{author},{lat},{lon},2,12,353,0.27,0.04,0.68\n"
    path.write_text(text)
    return path


def test_im2gps(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_im2gps(_im2gps(tmp_path / "im2gps3k_places365.csv"), image_dir="images")
    assert list(df.columns[:4]) == ["id", "path", "lat", "lon"]
    np.testing.assert_allclose(df["lat"], [r[2] for r in IM2GPS_ROWS])
    np.testing.assert_allclose(df["lon"], [r[3] for r in IM2GPS_ROWS])
    assert df["path"][0] == "images/104123223_7410c654ba_19_19355699@N00.jpg"
    assert df["id"][0] == "104123223_7410c654ba_19_19355699@N00"
    assert df["author"][1] == "91728102@N00" and "s365_label" in df.columns
    _, report = validate_manifest(df, check_files=False)
    assert report.ok


def test_im2gps_swapped_header_detected_and_warned(tmp_path):
    # the historical copy: header says LON,LAT over lat-first values
    path = _im2gps(tmp_path / "old.csv", header=("LON", "LAT"))
    with pytest.warns(ColumnOrderWarning, match="swapped"):
        df = read_im2gps(path)
    np.testing.assert_allclose(df["lat"], [r[2] for r in IM2GPS_ROWS])
    np.testing.assert_allclose(df["lon"], [r[3] for r in IM2GPS_ROWS])


def test_swap_detection_reference():
    assert detect_swapped_lat_lon([10, 120], [45, -20])
    assert not detect_swapped_lat_lon([10, 45], [120, -20])  # correct order
    assert not detect_swapped_lat_lon([10, 45], [60, -20])  # ambiguous: trust the header
    assert not detect_swapped_lat_lon([100, 45], [120, -20])  # both out: validation reports


def test_im2gps_missing_column(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("IMG_ID,AUTHOR,LAT\na.jpg,me,1.0\n")
    with pytest.raises(InputFileError, match="lacks column"):
        read_im2gps(p)


def _yfcc_line(lineno, photo_id, lon, lat):
    fields = [str(lineno), str(photo_id), "a1b2c3", "12345678@N00", "nick", "2010-05-01 12:00:00.0",
              "1272715200", "Canon+EOS", "title", "descr", "tag1,tag2", "", str(lon), str(lat), "16",
              "http://www.flickr.com/photos/x/1/", "http://farm1.staticflickr.com/1/1.jpg",
              "Attribution License", "http://creativecommons.org/licenses/by/2.0/", "1", "1", "s", "o",
              "jpg", "0"]
    assert fields[12] == str(lon) and fields[13] == str(lat)
    return "\t".join(fields)


def test_yfcc_info_txt_columns_12_13_zero_based(tmp_path):
    lines = [_yfcc_line(1, 4825469457, -122.419, 37.775), _yfcc_line(2, 2296584043, 2.35, 48.85),
             "3\t999\tshort line", _yfcc_line(4, 1234, "nan-lon", 10.0)]
    path = tmp_path / "info.txt"
    path.write_text("\n".join(lines) + "\n")
    df = read_yfcc(path, image_dir="images")
    assert len(df) == 4  # nothing dropped
    assert df["id"].tolist()[:2] == ["4825469457", "2296584043"]
    assert df["path"][0] == "images/4825469457.jpg"
    assert df["lat"][0] == pytest.approx(37.775) and df["lon"][0] == pytest.approx(-122.419)
    assert df["lat"][1] == pytest.approx(48.85) and df["lon"][1] == pytest.approx(2.35)
    assert df["accuracy"][0] == 16
    assert "fields" in df["problem"][2] and "unparseable" in df["problem"][3]
    clean, report = validate_manifest(df, check_files=False)
    assert len(clean) == 2
    assert [(p.row, p.reason) for p in report.problems] == [(2, REASON_BAD_COORDINATES),
                                                            (3, REASON_BAD_COORDINATES)]


OSV_HEADER = "id,latitude,longitude,thumb_original_url,country,sequence,captured_at,region,sub-region,city\n"


def test_osv5m_test_csv(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(OSV_HEADER
                    + "3859149887465501,-43.804769384023,-176.61409250805,,NZ,s1,0,Chatham Islands,,Waitangi\n"
                    + "743171673023530,52.5,13.4,,DE,s2,0,Berlin,Berlin,Berlin\n")
    df = read_osv5m(path, image_dir="images/test")
    assert df["id"].tolist() == ["3859149887465501", "743171673023530"]  # ids stay exact strings
    assert df["path"][0] == "images/test/3859149887465501.jpg"
    assert df["lat"][0] == pytest.approx(-43.804769384023) and df["lon"][0] == pytest.approx(-176.61409250805)
    assert df["admin1"][0] == "Chatham Islands" and df["town"][1] == "Berlin"
    assert df["country"].tolist() == ["NZ", "DE"]
    assert "admin2" in df.columns and "thumb_original_url" in df.columns


def test_read_benchmark_dispatch(tmp_path):
    path = _im2gps(tmp_path / "a.csv")
    assert len(read_benchmark(path, "IM2GPS3K")) == 3
    with pytest.raises(InputFileError, match="unknown benchmark format"):
        read_benchmark(path, "mp16")
    with pytest.raises(InputFileError, match="not found"):
        read_benchmark(tmp_path / "none.csv", "osv5m")
