"""Panorama geometry: a synthetic equirectangular image whose colour encodes direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geoloc.data.panorama import (
    default_headings,
    equirect_to_perspective,
    group_views,
    perspective_rays,
    split_panorama,
)
from geoloc.errors import GeolocError


def direction_panorama(w: int = 720, h: int = 360) -> Image.Image:
    """Equirectangular image (left edge = heading 0): R/G encode heading as cos/sin (no
    wrap ambiguity), B encodes elevation (0 at the bottom, 255 at the top)."""
    x = (np.arange(w) + 0.5) / w * 2 * np.pi
    elev = 90 - (np.arange(h) + 0.5) / h * 180
    r = np.tile(127.5 + 127 * np.cos(x), (h, 1))
    g = np.tile(127.5 + 127 * np.sin(x), (h, 1))
    b = np.tile(((elev + 90) / 180 * 255)[:, None], (1, w))
    return Image.fromarray(np.stack([r, g, b], -1).round().astype(np.uint8), "RGB")


def decode_heading(px) -> float:
    c = (float(px[0]) - 127.5) / 127
    s = (float(px[1]) - 127.5) / 127
    return float(np.degrees(np.arctan2(s, c)) % 360)


def decode_elevation(px) -> float:
    return float(px[2]) / 255 * 180 - 90


def ang_diff(a, b):
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize("n_views", [4, 6])
def test_view_centres_match_headings(n_views):
    pano = direction_panorama()
    views = split_panorama(pano, n_views)
    assert len(views) == n_views
    for view, heading in zip(views, default_headings(n_views), strict=True):
        assert view.size == (180, 180)  # 720 px * 90 / 360
        arr = np.asarray(view)
        centre = arr[89:91, 89:91].mean(axis=(0, 1))
        assert ang_diff(decode_heading(centre), heading) < 1.0
        assert abs(decode_elevation(centre)) < 1.0


def test_custom_headings_fov_and_left_edge_offset():
    pano = direction_panorama()
    views = split_panorama(pano, headings=[45.0, 300.0], fov_deg=60, out_size=(64, 48))
    for view, heading in zip(views, [45.0, 300.0], strict=True):
        assert view.size == (64, 48)
        arr = np.asarray(view).astype(float)
        assert ang_diff(decode_heading(arr[23:25, 31:33].mean(axis=(0, 1))), heading) < 1.5
        # the horizon's edge pixels look fov/2 to either side (pinhole geometry)
        half = np.degrees(np.arctan((32 - 0.5) / (32 / np.tan(np.radians(30)))))
        left = decode_heading(arr[23:25, 0].mean(axis=0))
        right = decode_heading(arr[23:25, -1].mean(axis=0))
        assert ang_diff(left, heading - half) < 1.5 and ang_diff(right, heading + half) < 1.5
    # a panorama whose left edge looks at heading 180 (centre = north)
    view = equirect_to_perspective(pano, 0.0, left_edge_heading_deg=180.0, out_size=(33, 33))
    # colour stored at pano heading h is shown at world heading h + 180
    assert ang_diff(decode_heading(np.asarray(view)[16, 16]), 180.0) < 1.5


def test_pitch_moves_the_centre_elevation():
    pano = direction_panorama()
    view = equirect_to_perspective(pano, 90.0, pitch_deg=30.0, out_size=(41, 41))
    centre = np.asarray(view)[20, 20]
    assert abs(decode_elevation(centre) - 30.0) < 1.5
    assert ang_diff(decode_heading(centre), 90.0) < 1.5
    # rows above the centre look higher
    assert np.asarray(view)[0, 20, 2] > centre[2]


def test_rays_reference_values():
    heading, elev = perspective_rays(3, 3, 90.0, 10.0)
    # centre pixel: straight ahead
    assert heading[1, 1] == pytest.approx(10.0) and elev[1, 1] == pytest.approx(0.0)
    # symmetric left/right and up/down
    assert heading[1, 0] - 10 == pytest.approx(-(heading[1, 2] - 10))
    assert elev[0, 1] == pytest.approx(-elev[2, 1]) and elev[0, 1] > 0
    with pytest.raises(GeolocError):
        perspective_rays(3, 3, 180.0, 0.0)


def test_strip_crops():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    strip = np.concatenate([np.full((20, 30, 3), c, np.uint8) for c in colours], axis=1)
    views = split_panorama(Image.fromarray(strip), 4, kind="strip")
    assert [v.size for v in views] == [(30, 20)] * 4
    for v, c in zip(views, colours, strict=True):
        assert (np.asarray(v) == c).all()
    with pytest.raises(GeolocError, match="unknown panorama kind"):
        split_panorama(Image.fromarray(strip), kind="cube")


def test_group_views_orders_and_rejects():
    df = pd.DataFrame({
        "id": ["a", "a", "b", "a", "a", "c", "c"],
        "view": [2, 0, 0, 1, 3, 0, 1],
        "heading": [180.0, 0.0, 0.0, 90.0, 270.0, 0.0, 90.0],
        "lat": [1.0, 1.0, 2.0, 1.0, 1.0, 3.0, 3.5],
        "lon": [5.0] * 7,
        "path": ["a2", "a0", "b0", "a1", "a3", "c0", "c1"],
        "country": ["X", "X", "Y", "X", "X", "Z", "Z"],
    })
    locs, rejected = group_views(df, n_views=4)
    assert locs["id"].tolist() == ["a"]
    assert locs["paths"][0] == ("a0", "a1", "a2", "a3")
    assert locs["headings"][0] == (0.0, 90.0, 180.0, 270.0)
    assert locs["country"][0] == "X" and locs["n_views"][0] == 4
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        "b": "1 views, expected 4", "c": "2 views, expected 4"}
    locs_any, rejected_any = group_views(df)
    assert locs_any["id"].tolist() == ["a", "b"]  # order of first appearance
    assert rejected_any["reason"].tolist() == ["views disagree on coordinates"]
    # no id column: each row is a location
    locs_rows, _ = group_views(df.drop(columns=["id"]))
    assert len(locs_rows) == 7 and all(n == 1 for n in locs_rows["n_views"])
