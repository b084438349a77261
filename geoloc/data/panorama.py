"""Panoramas -> heading views, and separate view files -> locations.

Equirectangular convention: the panorama covers 360 degrees of heading left to right and
+90 (top) to -90 (bottom) degrees of elevation. Column ``x`` (pixel centre ``x + 0.5``)
looks at heading ``left_edge_heading_deg + 360 * (x + 0.5) / W``; with the default
``left_edge_heading_deg=0`` the left edge looks north and the centre column south. (Many
street-level providers put the camera's forward direction at the centre: pass
``left_edge_heading_deg = forward_heading - 180``.)

Stitched strips (``kind="strip"``): N equally wide views side by side; they are simply
cut apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image

from geoloc.data.manifest import HEADING, ID, LAT, LON, PATH, VIEW
from geoloc.errors import GeolocError, InputFileError


def default_headings(n_views: int) -> list[float]:
    """``n_views`` headings evenly spaced from 0 degrees (4 -> 0, 90, 180, 270)."""
    if n_views < 1:
        raise GeolocError(f"n_views must be >= 1, got {n_views}")
    return [360.0 * i / n_views for i in range(n_views)]


def perspective_rays(out_h: int, out_w: int, fov_deg: float, heading_deg: float,
                     pitch_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World heading and elevation (degrees, each [out_h, out_w]) seen by each pixel of a
    pinhole camera with horizontal field of view ``fov_deg`` looking at ``heading_deg``
    (clockwise from north) and ``pitch_deg`` (up positive)."""
    if not 0.0 < fov_deg < 180.0:
        raise GeolocError(f"fov_deg must be in (0, 180), got {fov_deg}")
    f = (out_w / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    x = (np.arange(out_w) + 0.5 - out_w / 2.0) / f  # right
    y = (out_h / 2.0 - (np.arange(out_h) + 0.5)) / f  # up
    xx, yy = np.meshgrid(x, y)
    zz = np.ones_like(xx)  # forward
    p = np.radians(pitch_deg)  # rotate about the camera's right axis
    y_r = yy * np.cos(p) + zz * np.sin(p)
    z_r = -yy * np.sin(p) + zz * np.cos(p)
    heading = heading_deg + np.degrees(np.arctan2(xx, z_r))
    elevation = np.degrees(np.arctan2(y_r, np.hypot(xx, z_r)))
    return heading, elevation


def _bilinear(src: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample ``src`` [H, W, C] (uint8) at continuous pixel coordinates (u: column, wraps
    around; v: row, clamped) -> [h, w, C] float32."""
    h_src, w_src, channels = src.shape
    flat = src.reshape(-1, channels)
    u0 = np.floor(u)
    v0 = np.floor(v)
    du = (u - u0).astype(np.float32)[..., None]
    dv = (v - v0).astype(np.float32)[..., None]
    u0 = u0.astype(np.int64)
    v0 = v0.astype(np.int64)
    u0w, u1w = u0 % w_src, (u0 + 1) % w_src
    r0 = np.clip(v0, 0, h_src - 1) * w_src
    r1 = np.clip(v0 + 1, 0, h_src - 1) * w_src
    p00 = flat[r0 + u0w].astype(np.float32)
    p01 = flat[r0 + u1w].astype(np.float32)
    p10 = flat[r1 + u0w].astype(np.float32)
    p11 = flat[r1 + u1w].astype(np.float32)
    top = p00 + (p01 - p00) * du
    bottom = p10 + (p11 - p10) * du
    return top + (bottom - top) * dv


def equirect_to_perspective(pano: Image.Image, heading_deg: float, *, fov_deg: float = 90.0,
                            pitch_deg: float = 0.0, out_size: tuple[int, int] | None = None,
                            left_edge_heading_deg: float = 0.0) -> Image.Image:
    """Render one pinhole view (RGB) from an equirectangular panorama by inverse mapping
    and bilinear interpolation. ``out_size`` is (width, height); default square with the
    panorama's angular resolution (``W * fov / 360`` pixels wide)."""
    arr = np.asarray(pano.convert("RGB"))
    h_src, w_src = arr.shape[:2]
    if out_size is None:
        side = max(1, round(w_src * fov_deg / 360.0))
        out_size = (side, side)
    out_w, out_h = out_size
    heading, elevation = perspective_rays(out_h, out_w, fov_deg, heading_deg, pitch_deg)
    u = ((heading - left_edge_heading_deg) / 360.0 % 1.0) * w_src - 0.5
    v = (0.5 - elevation / 180.0) * h_src - 0.5
    out = _bilinear(arr, u, v)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def split_panorama(img: Image.Image, n_views: int = 4, *, fov_deg: float = 90.0,
                   headings: Sequence[float] | None = None,
                   kind: Literal["equirect", "strip"] = "equirect", pitch_deg: float = 0.0,
                   out_size: tuple[int, int] | None = None,
                   left_edge_heading_deg: float = 0.0) -> list[Image.Image]:
    """Cut a panorama into heading views.

    ``kind="equirect"``: perspective re-projection (see module doc for the convention) at
    ``headings`` (default ``n_views`` evenly spaced from 0 degrees) with horizontal field
    of view ``fov_deg``. ``kind="strip"``: ``n_views`` equal-width crops of a stitched strip
    (left to right); ``headings`` and ``fov_deg`` are then ignored.
    """
    if kind == "strip":
        if n_views < 1:
            raise GeolocError(f"n_views must be >= 1, got {n_views}")
        w, h = img.size
        if w < n_views:
            raise InputFileError(f"strip of width {w} cannot hold {n_views} views")
        edges = [round(w * i / n_views) for i in range(n_views + 1)]
        views = [img.crop((edges[i], 0, edges[i + 1], h)).convert("RGB") for i in range(n_views)]
        return [v.resize(out_size, Image.Resampling.BICUBIC) if out_size else v for v in views]
    if kind != "equirect":
        raise GeolocError(f"unknown panorama kind {kind!r} (use 'equirect' or 'strip')")
    heads = list(headings) if headings is not None else default_headings(n_views)
    return [equirect_to_perspective(img, h, fov_deg=fov_deg, pitch_deg=pitch_deg, out_size=out_size,
                                    left_edge_heading_deg=left_edge_heading_deg) for h in heads]


def group_views(manifest: pd.DataFrame, n_views: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group the rows of a (validated) manifest into locations.

    Rows sharing ``id`` are the views of one location, ordered by ``view`` (or by
    ``heading``, or file order); locations come in order of first appearance. Without an ``id`` column each row is its own location.
    Returns ``(locations, rejected)``: ``locations`` has one row per location with ``id``,
    ``lat``, ``lon`` (of its first view), ``paths`` (tuple), ``headings`` (tuple, NaN where
    unknown), ``n_views`` and the first view's other metadata; ``rejected`` lists locations
    dropped (``id``, ``reason``): a view count different from ``n_views`` (when given) or
    views whose coordinates disagree by more than 1e-6 degrees.
    """
    df = manifest.reset_index(drop=True).copy()
    if ID not in df.columns:
        df[ID] = df.index.astype(str)
    df["_order"] = np.arange(len(df))
    df["_first"] = df.groupby(ID, sort=False)["_order"].transform("min")
    sort_cols = ["_first"] + ([VIEW] if VIEW in df.columns else [HEADING] if HEADING in df.columns else [])
    df = df.sort_values([*sort_cols, "_order"], kind="stable")
    meta_cols = [c for c in df.columns if c not in (PATH, VIEW, HEADING, "_order", "_first")]
    rows, rejected = [], []
    for loc_id, g in df.groupby(ID, sort=False):
        if n_views is not None and len(g) != n_views:
            rejected.append({ID: loc_id, "reason": f"{len(g)} views, expected {n_views}"})
            continue
        lat = g[LAT].to_numpy(dtype=np.float64)
        lon = g[LON].to_numpy(dtype=np.float64)
        if np.ptp(lat) > 1e-6 or np.ptp(lon) > 1e-6:
            rejected.append({ID: loc_id, "reason": "views disagree on coordinates"})
            continue
        first = g.iloc[0]
        row = {c: first[c] for c in meta_cols}
        row["paths"] = tuple(g[PATH].astype(str)) if PATH in g.columns else ()
        row["headings"] = (tuple(g[HEADING].astype(float)) if HEADING in g.columns
                           else tuple([float("nan")] * len(g)))
        row["n_views"] = len(g)
        rows.append(row)
    locations = pd.DataFrame(rows)
    locations.attrs.update(manifest.attrs)
    return locations, pd.DataFrame(rejected, columns=[ID, "reason"])
