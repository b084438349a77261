"""Arena maps: manifests of four-view locations and panoramas, SynthWorld cache, served views."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from arena_helpers import HEADING_COLOURS, Client, solid_views
from PIL import Image

from bot.arena import load_map, manifest_map, map_from_arrays, serve, synthworld_map
from bot.arena.maps import HEADINGS
from geoloc.errors import GeolocError, InputFileError


def _centre_rgb(jpeg: bytes) -> np.ndarray:
    img = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=float)
    h, w = img.shape[:2]
    return img[h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].reshape(-1, 3).mean(axis=0)


def _four_view_manifest(tmp_path, n=3, shuffle_headings=True):
    rows = []
    rng = np.random.default_rng(0)
    for i in range(n):
        order = rng.permutation(4) if shuffle_headings else np.arange(4)
        for view, k in enumerate(order):
            path = f"img/{i}_{view}.png"
            (tmp_path / "img").mkdir(exist_ok=True)
            solid_views()[k].save(tmp_path / path)
            rows.append({"id": f"loc{i}", "view": view, "heading": HEADINGS[k], "lat": 10.0 + i, "lon": 20.0 - i,
                         "path": path})
    return rows


def test_four_view_manifest_orders_views_by_heading(tmp_path):
    rows = _four_view_manifest(tmp_path)
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    m = manifest_map(tmp_path / "m.csv", progress=False)
    assert len(m) == 3 and m.skipped == ()
    assert [(loc.lat, loc.lon) for loc in m.locations] == [(10.0, 20.0), (11.0, 19.0), (12.0, 18.0)]
    for loc in m.locations:
        for h, colour in zip(HEADINGS, HEADING_COLOURS, strict=True):
            assert np.abs(_centre_rgb(loc.view(h)) - colour).max() < 12


def test_bad_rows_and_odd_locations_are_skipped_and_named(tmp_path):
    rows = _four_view_manifest(tmp_path, n=2, shuffle_headings=False)
    rows.append({"id": "bad", "view": 0, "heading": 0, "lat": 95.0, "lon": 0.0, "path": "img/0_0.png"})
    rows.append({"id": "missing", "view": 0, "heading": 0, "lat": 1.0, "lon": 0.0, "path": "img/none.png"})
    rows += [{"id": "two", "view": v, "heading": 0, "lat": 1.0, "lon": 1.0, "path": "img/0_0.png"} for v in (0, 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    m = manifest_map(tmp_path / "m.csv", progress=False)
    assert len(m) == 2
    text = " | ".join(m.skipped)
    assert "invalid coordinates" in text and "missing file" in text and "2 views" in text


def test_panorama_manifest_is_split_into_headings(tmp_path):
    # equirect: column x looks at heading 360 (x + 0.5) / W; paint a band of 90 degrees per heading
    w, h = 720, 360
    heading = (np.arange(w) + 0.5) * 360.0 / w
    band = np.rint(heading / 90.0).astype(int) % 4
    pano = np.zeros((h, w, 3), np.uint8)
    pano[:] = np.asarray(HEADING_COLOURS, np.uint8)[band][None]
    Image.fromarray(pano).save(tmp_path / "p.jpg")
    pd.DataFrame([{"lat": -33.9, "lon": 18.4, "path": "p.jpg"}]).to_csv(tmp_path / "m.csv", index=False)
    m = manifest_map(tmp_path / "m.csv", view_size=64, progress=False)
    loc = m.locations[0]
    assert Image.open(io.BytesIO(loc.view(0))).size == (64, 64)
    for hd, colour in zip(HEADINGS, HEADING_COLOURS, strict=True):
        assert np.abs(_centre_rgb(loc.view(hd)) - colour).max() < 12


def test_manifest_without_usable_rows_raises(tmp_path):
    pd.DataFrame([{"lat": 1.0, "lon": 1.0, "path": "nothing.png"}]).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(InputFileError, match="no usable arena location"):
        manifest_map(tmp_path / "m.csv", progress=False)
    with pytest.raises(InputFileError, match="no such manifest"):
        load_map(str(tmp_path / "absent.csv"))


def test_served_views_of_a_manifest_map(tmp_path):
    pd.DataFrame(_four_view_manifest(tmp_path, n=2)).to_csv(tmp_path / "m.csv", index=False)
    server = serve(str(tmp_path / "m.csv"))
    try:
        client = Client(server.url)
        game = client.call("POST", "/api/v3/games", {"roundCount": 2, "map": "m"})[1]
        pano = game["rounds"][0]["panoId"]
        for h, colour in zip(HEADINGS, HEADING_COLOURS, strict=True):
            status, body = client.raw("GET", f"/pano/{pano}/{h}.jpg")
            assert status == 200 and np.abs(_centre_rgb(body) - colour).max() < 12
    finally:
        server.stop()


def test_map_from_arrays_checks_input():
    with pytest.raises(GeolocError):
        map_from_arrays([100.0], [0.0], [solid_views()])
    with pytest.raises(GeolocError, match="views"):
        map_from_arrays([10.0], [0.0], [solid_views()[:3]])


def test_synthworld_map_renders_once_then_reads_the_cache(tmp_path):
    m = synthworld_map(2, seed=5, size=32, cache_dir=tmp_path, progress=False)
    assert len(m) == 2 and m.name == "synthworld-s5"
    folder = tmp_path / "synthworld-s5-32px"
    files = sorted(folder.glob("*.jpg"))
    assert len(files) == 8
    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = synthworld_map(2, seed=5, size=32, cache_dir=tmp_path, progress=False)
    assert [(a.lat, a.lon, a.views) for a in again.locations] == [(a.lat, a.lon, a.views) for a in m.locations]
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    from geoloc.synth import sample_locations

    ref = sample_locations(2, seed=5)
    np.testing.assert_allclose([a.lat for a in m.locations], ref["lat"])
    for loc in m.locations:
        assert {Image.open(io.BytesIO(v)).size for v in loc.views} == {(32, 32)}
        assert len(set(loc.views)) == 4  # four different headings
    with pytest.raises(GeolocError):
        synthworld_map(0, cache_dir=tmp_path)
