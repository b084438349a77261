"""Image helpers shared by the app tests (a module of its own, not imported from conftest.py,
which would clash with other test folders' conftest when they run together)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational


def image_bytes(w: int = 96, h: int = 64, fmt: str = "JPEG", seed: int = 0, exif: Image.Exif | None = None) -> bytes:
    """A random RGB image encoded as ``fmt``."""
    arr = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    Image.fromarray(arr).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gps_exif(lat: float, lon: float) -> Image.Exif:
    """An EXIF block whose GPS IFD holds ``lat``, ``lon`` (degrees) as D/M/S rationals."""
    from geoloc.data.exif import fraction_dms

    def dms(deg: float) -> tuple:
        return tuple(IFDRational(x.numerator, x.denominator) for x in fraction_dms(abs(deg)))

    exif = Image.Exif()
    exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
    return exif
