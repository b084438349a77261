"""EXIF GPS: the 14 real photos against their truth, and synthetic tags for every rule."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from datahelpers import encode, gradient_rgb
from PIL import Image
from PIL.TiffImagePlugin import IFDRational as R

from geoloc.data.exif import (
    GPSFix,
    dms_to_degrees,
    fraction_dms,
    gps_from_ifd,
    rational_to_float,
    read_exif_gps,
)
from geoloc.errors import ImageDecodeError


def test_all_shared_photos_match_manifest(exif_dir, exif_truth):
    assert len(exif_truth) == 14
    for row in exif_truth.itertuples():
        fix = read_exif_gps(exif_dir / row.file)
        assert fix is not None, row.file
        assert abs(fix.lat - row.lat) < 1e-5 and abs(fix.lon - row.lon) < 1e-5, (row.file, fix)
        assert (fix.lat < 0) == (row.lat_ref == "S") and (fix.lon < 0) == (row.lon_ref == "W")


def test_nikon_zero_over_zero_seconds(exif_dir):
    fix = read_exif_gps(exif_dir / "jpg_Nikon_D5000.jpg")
    assert fix.lat == pytest.approx(48.888726, abs=1e-6) and fix.lon == pytest.approx(21.043251, abs=1e-6)


def test_heic_and_bytes_source(exif_dir):
    data = (exif_dir / "heic_IMG_1034.heic").read_bytes()
    fix = read_exif_gps(data)
    assert fix.lat == pytest.approx(23.177917, abs=1e-5)
    assert fix.altitude_m == pytest.approx(42.81, abs=0.01)
    assert fix.timestamp == datetime(2018, 2, 5, 7, 11, 43, 70000, tzinfo=UTC)


def _jpeg_with_gps(gps: dict, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x8825] = gps
    return encode(gradient_rgb(8, 8), fmt, exif=exif)


def _dms(deg: float) -> tuple:
    d, m, s = fraction_dms(deg)
    return tuple(R(x.numerator, x.denominator) for x in (d, m, s))


@pytest.mark.parametrize(("lat", "lon"), [(33.8688, 151.2093), (-33.8688, 151.2093),
                                          (40.7128, -74.006), (-22.9068, -43.1729)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_refs_applied(lat, lon, fmt):
    gps = {1: "N" if lat >= 0 else "S", 2: _dms(lat), 3: "E" if lon >= 0 else "W", 4: _dms(lon)}
    fix = read_exif_gps(_jpeg_with_gps(gps, fmt))
    assert fix.lat == pytest.approx(lat, abs=1e-7) and fix.lon == pytest.approx(lon, abs=1e-7)


def test_zero_denominator_seconds_count_as_zero():
    gps = {1: "S", 2: (R(33, 1), R(52, 1), R(0, 0)), 3: "W", 4: (R(151, 1), R(12, 1), R(0, 0))}
    fix = read_exif_gps(_jpeg_with_gps(gps))
    assert fix.lat == pytest.approx(-(33 + 52 / 60)) and fix.lon == pytest.approx(-(151 + 12 / 60))


@pytest.mark.parametrize("gps", [
    {},  # no GPS IFD content
    {1: "N", 2: (R(10, 1), R(0, 1), R(0, 1))},  # latitude only
    {2: (R(10, 1), R(0, 1), R(0, 1)), 4: (R(10, 1), R(0, 1), R(0, 1))},  # values, no refs
    {1: "N", 2: (R(10, 1), R(0, 1), R(0, 1)), 3: "E"},  # lon ref without value
    {1: "Q", 2: (R(10, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(1, 1), R(0, 1), R(0, 1))},  # bad ref
    {1: "N", 2: (R(95, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(1, 1), R(0, 1), R(0, 1))},  # lat > 90
    {1: "N", 2: (R(10, 1), R(0, 1), R(0, 1)), 3: "W", 4: (R(181, 1), R(0, 1), R(0, 1))},  # lon > 180
    {1: "N", 2: (R(10, 0), R(0, 1), R(0, 1)), 3: "E", 4: (R(1, 1), R(0, 1), R(0, 1))},  # 10/0 degrees
    {1: "N", 2: (R(0, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(0, 1), R(0, 1), R(0, 1))},  # (0, 0)
    {1: "N", 2: (R(10, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(1, 1), R(0, 1), R(0, 1)), 9: "V"},  # void
])
def test_unusable_gps_gives_none(gps):
    assert read_exif_gps(_jpeg_with_gps(gps)) is None


def test_altitude_below_sea_and_timestamp():
    gps = {1: "N", 2: _dms(31.5), 3: "E", 4: _dms(35.5), 5: b"\x01", 6: R(430, 1),
           29: "2021:03:04", 7: (R(5, 1), R(6, 1), R(7, 2))}
    fix = read_exif_gps(_jpeg_with_gps(gps))
    assert fix.altitude_m == -430.0
    assert fix.timestamp == datetime(2021, 3, 4, 5, 6, 3, 500000, tzinfo=UTC)
    # malformed date: position kept, timestamp dropped
    gps[29] = "2014:09:259"
    fix = read_exif_gps(_jpeg_with_gps(gps))
    assert fix.lat == pytest.approx(31.5) and fix.timestamp is None


def test_no_exif_at_all_and_non_images(tmp_path):
    assert read_exif_gps(encode(gradient_rgb(8, 8), "PNG")) is None
    assert read_exif_gps(Image.new("RGB", (4, 4))) is None
    bad = tmp_path / "x.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageDecodeError, match=r"x\.jpg"):
        read_exif_gps(bad)


def test_heif_written_with_gps():
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x8825] = {1: "S", 2: _dms(12.25), 3: "W", 4: _dms(77.5)}
    buf = io.BytesIO()
    gradient_rgb(16, 16).save(buf, format="HEIF", exif=exif.tobytes())
    fix = read_exif_gps(buf.getvalue())
    assert fix.lat == pytest.approx(-12.25) and fix.lon == pytest.approx(-77.5)


def test_rational_helpers_reference():
    assert rational_to_float(R(0, 0)) == 0.0
    assert rational_to_float(R(3, 0)) is None
    assert rational_to_float((7, 2)) == 3.5
    assert rational_to_float(Fraction(1, 4)) == 0.25
    assert rational_to_float(float("nan")) is None
    assert rational_to_float("x") is None
    assert dms_to_degrees((R(10, 1), R(30, 1), R(36, 1))) == pytest.approx(10.51)
    assert dms_to_degrees((R(10, 1), R(30, 1))) == pytest.approx(10.5)  # degrees + decimal minutes
    assert dms_to_degrees(R(1051, 100)) == pytest.approx(10.51)  # decimal degrees
    assert dms_to_degrees(()) is None and dms_to_degrees(None) is None
    assert dms_to_degrees((R(-1, 1), R(0, 1), R(0, 1))) is None


def test_gps_from_ifd_with_raw_pairs_and_bytes_refs():
    ifd = {1: b"S\x00", 2: ((12, 1), (30, 1), (0, 1)), 3: b"e", 4: ((5, 1), (15, 1), (0, 0))}
    assert gps_from_ifd(ifd) == GPSFix(lat=-12.5, lon=5.25)


def test_fraction_dms_round_trip():
    for deg in (0.0, 1e-6, 48.888726, 179.999999, 89.5):
        d, m, s = fraction_dms(deg)
        assert float(d + m / 60 + s / 3600) == pytest.approx(deg, abs=1e-9)
