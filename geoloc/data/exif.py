"""EXIF GPS: the position a camera or phone wrote into a photo, or None.

Reads the GPS IFD (tag 0x8825) of JPEG, TIFF, WebP, PNG and HEIC/HEIF files without
decoding pixels. Degrees/minutes/seconds rationals are combined with the N/S/E/W
references. Rules for imperfect files:

- a rational 0/0 counts as 0 (Nikon D5000 writes seconds as 0/0); n/0 with n != 0 is
  unusable and gives None;
- a missing latitude/longitude value or reference, an unknown reference letter, a
  position outside [-90, 90] x [-180, 180], GPSStatus 'V' (measurement void) and the
  exact point (0, 0) (what many phones write without a fix) all give None;
- altitude (m, negative below sea level) and the UTC timestamp are optional and become
  None when absent or malformed, without discarding the position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from PIL import Image

from geoloc.data.images import ImageSource, open_image

GPS_IFD_TAG = 0x8825
TAG_LAT_REF, TAG_LAT, TAG_LON_REF, TAG_LON = 1, 2, 3, 4
TAG_ALT_REF, TAG_ALT = 5, 6
TAG_TIME, TAG_STATUS, TAG_DATE = 7, 9, 29


@dataclass(frozen=True)
class GPSFix:
    """A position from EXIF: ``lat``/``lon`` in degrees (WGS84, south and west negative),
    ``altitude_m`` in metres above sea level (negative below), ``timestamp`` in UTC."""

    lat: float
    lon: float
    altitude_m: float | None = None
    timestamp: datetime | None = None


def rational_to_float(value: Any) -> float | None:
    """One EXIF rational (IFDRational, Fraction, (num, den) pair, int or float) -> float.
    0/0 -> 0.0; n/0 (n != 0), NaN and unparseable values -> None."""
    num = getattr(value, "numerator", None)
    den = getattr(value, "denominator", None)
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        num, den = value
    if num is not None and den is not None and not isinstance(value, float):
        try:
            num_f, den_f = float(num), float(den)
        except (TypeError, ValueError):
            return None
        if den_f == 0:
            return 0.0 if num_f == 0 else None
        out = num_f / den_f
    else:
        try:
            out = float(value)
        except (TypeError, ValueError):
            return None
    return out if math.isfinite(out) else None


def dms_to_degrees(dms: Any) -> float | None:
    """EXIF (degrees, minutes, seconds) -> decimal degrees (unsigned). Accepts one to three
    rationals (some writers put decimal degrees or degrees + decimal minutes)."""
    if dms is None:
        return None
    if not isinstance(dms, tuple | list):
        dms = (dms,)
    if len(dms) == 0 or len(dms) > 3:
        return None
    parts = [rational_to_float(v) for v in dms]
    if any(p is None or p < 0 for p in parts):
        return None
    return sum(p / 60.0**i for i, p in enumerate(parts))


def _ref(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ").upper()
    return value[:1] or None


def _altitude(gps: dict) -> float | None:
    if TAG_ALT not in gps:
        return None
    alt = rational_to_float(gps[TAG_ALT])
    if alt is None:
        return None
    ref = gps.get(TAG_ALT_REF, 0)
    if isinstance(ref, bytes):
        ref = ref[0] if ref else 0
    try:
        below = int(ref) == 1
    except (TypeError, ValueError):
        below = False
    return -alt if below else alt


def _timestamp(gps: dict) -> datetime | None:
    date, time = gps.get(TAG_DATE), gps.get(TAG_TIME)
    if not isinstance(date, str | bytes) or time is None:
        return None
    if isinstance(date, bytes):
        date = date.decode("ascii", errors="ignore")
    try:
        y, m, d = (int(x) for x in date.strip("\x00 ").split(":"))
        hms = [rational_to_float(v) for v in time]
        if len(hms) != 3 or any(v is None for v in hms):
            return None
        h, mi, s = hms
        return datetime(y, m, d, tzinfo=UTC) + timedelta(hours=h, minutes=mi, seconds=s)
    except (ValueError, TypeError, OverflowError):
        return None


def gps_from_ifd(gps: dict) -> GPSFix | None:
    """The fix encoded by a GPS IFD mapping (tag number -> value), or None (see module doc)."""
    if not gps:
        return None
    if _ref(gps.get(TAG_STATUS)) == "V":
        return None
    lat, lon = dms_to_degrees(gps.get(TAG_LAT)), dms_to_degrees(gps.get(TAG_LON))
    lat_ref, lon_ref = _ref(gps.get(TAG_LAT_REF)), _ref(gps.get(TAG_LON_REF))
    if lat is None or lon is None or lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        return None
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        return None
    return GPSFix(lat=lat, lon=lon, altitude_m=_altitude(gps), timestamp=_timestamp(gps))


def read_gps_ifd(img: Image.Image) -> dict:
    """The raw GPS IFD of an opened image ({} when there is none)."""
    exif = img.getexif()
    gps = dict(exif.get_ifd(GPS_IFD_TAG)) if exif else {}
    if not gps and img.format == "PNG":  # eXIf chunk after the image data
        img.load()
        exif = img.getexif()
        gps = dict(exif.get_ifd(GPS_IFD_TAG)) if exif else {}
    return gps


def read_exif_gps(src: ImageSource | Image.Image) -> GPSFix | None:
    """GPS fix from the EXIF of a path, bytes, file object or opened PIL image; None when
    the file has no usable fix (including an unreadable EXIF block). Raises
    :class:`ImageDecodeError` only when ``src`` is not a readable image at all."""
    if isinstance(src, Image.Image):
        img = src
    else:
        img = open_image(src, max_pixels=None)
    try:
        gps = read_gps_ifd(img)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError, ZeroDivisionError):
        return None
    return gps_from_ifd(gps)


EXIF_IFD_TAG = 0x8769
TAG_DATETIME_ORIGINAL = 36867
TAG_DATETIME = 306


def read_exif_month(src: ImageSource | Image.Image) -> int | None:
    """Capture month (1..12) from EXIF ``DateTimeOriginal``, else ``DateTime``, else the GPS date;
    None when the file has none or it is unreadable. Raises :class:`ImageDecodeError` only when
    ``src`` is not a readable image at all."""
    img = src if isinstance(src, Image.Image) else open_image(src, max_pixels=None)
    try:
        exif = img.getexif()
        values = [exif.get_ifd(EXIF_IFD_TAG).get(TAG_DATETIME_ORIGINAL), exif.get(TAG_DATETIME)]
        gps = read_gps_ifd(img)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError, ZeroDivisionError):
        return None
    values.append(gps.get(TAG_DATE))
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("ascii", errors="ignore")
        if isinstance(v, str) and len(v) >= 7 and v[4] == ":":
            try:
                month = int(v[5:7])
            except ValueError:
                continue
            if 1 <= month <= 12:
                return month
    return None


def fraction_dms(degrees: float, *, denominator: int = 1_000_000) -> tuple[Fraction, Fraction, Fraction]:
    """Unsigned decimal degrees -> (deg, min, sec) fractions, for writing test files."""
    degrees = abs(float(degrees))
    d = int(degrees)
    minutes = (degrees - d) * 60.0
    m = int(minutes)
    s = Fraction(round((minutes - m) * 60.0 * denominator), denominator)
    return Fraction(d), Fraction(m), s
