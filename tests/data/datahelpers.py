"""Helpers shared by the data-layer tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def gradient_rgb(w: int = 40, h: int = 30, seed: int = 0) -> Image.Image:
    """A smooth deterministic RGB test image (red ~ x, green ~ y, blue a wave shifted by
    ``seed``) whose pixels differ across the frame; smooth so lossy codecs stay close."""
    y, x = np.mgrid[0:h, 0:w]
    blue = 128 + 100 * np.sin((x + 2 * y) / 6.0 + seed)
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), blue], axis=-1).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_manifest_folder(tmp: Path, n: int = 4, views: int = 1, size: int = 24) -> pd.DataFrame:
    """Write ``n`` locations x ``views`` JPEGs under ``tmp/img`` and return their manifest
    (paths relative to ``tmp``)."""
    (tmp / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        for v in range(views):
            name = f"img/loc{i}_v{v}.jpg"
            gradient_rgb(size, size, seed=10 * i + v).save(tmp / name, quality=95)
            rows.append({"id": f"loc{i}", "view": v, "heading": 90.0 * v, "lat": 10.0 + i,
                         "lon": -20.0 - i, "path": name, "country": f"C{i % 2}", "month": i + 1})
    return pd.DataFrame(rows)


def tiff_rgb16(arr: np.ndarray) -> bytes:
    """A minimal uncompressed little-endian 16-bit-per-channel RGB TIFF (Pillow cannot
    write one) from a uint16 array [H, W, 3]."""
    import struct

    h, w, _ = arr.shape
    data = arr.astype("<u2").tobytes()
    n_tags, ifd_off = 10, 8
    bps_off = ifd_off + 2 + n_tags * 12 + 4
    data_off = bps_off + 6
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, bps_off), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, data_off), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    out = b"II*\x00" + struct.pack("<I", ifd_off) + struct.pack("<H", n_tags)
    for tag, typ, cnt, val in tags:
        out += (struct.pack("<HHIHH", tag, typ, cnt, val, 0) if typ == 3 and cnt == 1
                else struct.pack("<HHII", tag, typ, cnt, val))
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data
