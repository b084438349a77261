"""WebDataset shards: write/read round trips, layout, manifest sharding with bad files."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
from datahelpers import encode, gradient_rgb, write_manifest_folder

from geoloc.data.manifest import validate_manifest
from geoloc.data.shards import expand_shards, manifest_to_shards, read_shards, shard_key, write_shards
from geoloc.errors import GeolocError


def test_round_trip_pil_and_bytes(tmp_path):
    png = encode(gradient_rgb(20, 10, seed=3), "PNG")
    records = []
    for i in range(7):
        imgs = [gradient_rgb(16, 16, seed=i), png] if i % 2 else [gradient_rgb(16, 16, seed=i)] * 4
        records.append({"id": f"loc.{i}/x", "images": imgs,
                        "meta": {"lat": 1.5 * i, "lon": -2.0 * i, "country": "FR", "n": np.int64(i),
                                 "missing": float("nan")}})
    paths = write_shards(records, tmp_path / "out", maxcount=3, prefix="train")
    assert [p.name for p in paths] == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    with tarfile.open(paths[0]) as tar:
        names = tar.getnames()
    assert names[:5] == ["loc_0_x.view0.jpg", "loc_0_x.view1.jpg", "loc_0_x.view2.jpg", "loc_0_x.view3.jpg",
                         "loc_0_x.json"]
    assert "loc_1_x.view1.png" in names  # encoded bytes stored as they are
    samples = list(read_shards(tmp_path / "out"))
    assert [s["id"] for s in samples] == [f"loc.{i}/x" for i in range(7)]
    for i, s in enumerate(samples):
        assert s["meta"]["lat"] == 1.5 * i and s["meta"]["n"] == i and s["meta"]["missing"] is None
        assert s["meta"]["n_views"] == len(s["images"])
        ref = gradient_rgb(16, 16, seed=i)
        diff = np.abs(np.asarray(s["images"][0], float) - np.asarray(ref, float)).mean()
        assert diff < 6  # JPEG q95
    raw = list(read_shards(paths, decode=False))
    assert raw[1]["images"][1] == png  # byte-exact


def test_key_collisions_and_bad_inputs(tmp_path):
    assert shard_key("a.b c/d") == "a_b_c_d"
    recs = [{"id": "a.b", "images": [gradient_rgb(4, 4)], "meta": {}},
            {"id": "a_b", "images": [gradient_rgb(4, 4)], "meta": {}}]
    write_shards(recs, tmp_path / "s")
    got = list(read_shards(tmp_path / "s"))
    assert [s["id"] for s in got] == ["a.b", "a_b"] and got[1]["key"] == "a_b_1"
    with pytest.raises(GeolocError, match="maxcount"):
        write_shards(recs, tmp_path / "t", maxcount=0)
    with pytest.raises(GeolocError, match="PIL images or bytes"):
        write_shards([{"id": "x", "images": ["not an image"], "meta": {}}], tmp_path / "u")


def test_expand_patterns(tmp_path):
    assert expand_shards("d/s-{000..002}.tar") == ["d/s-000.tar", "d/s-001.tar", "d/s-002.tar"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeolocError, match=r"no \.tar shards"):
        expand_shards(tmp_path / "empty")


def test_manifest_to_shards_groups_views_and_reports_bad_files(tmp_path):
    df = write_manifest_folder(tmp_path, n=3, views=4)
    (tmp_path / "img" / "loc1_v2.jpg").write_bytes(b"corrupt")  # location 1 unreadable
    df.attrs["root"] = str(tmp_path)
    clean, _ = validate_manifest(df)
    paths, report = manifest_to_shards(clean, tmp_path / "sh", maxcount=2, progress=False)
    samples = list(read_shards(paths))
    assert [s["id"] for s in samples] == ["loc0", "loc2"]
    assert report.n_rows == 3 and report.n_valid == 2
    assert [(p.row, p.reason) for p in report.problems] == [(4, "unreadable image")]
    assert "loc1_v2.jpg" in report.problems[0].detail
    s = samples[1]
    assert len(s["images"]) == 4 and s["meta"]["headings"] == [0.0, 90.0, 180.0, 270.0]
    assert s["meta"]["lat"] == 12.0 and s["meta"]["country"] == "C0" and s["meta"]["month"] == 3
    # JPEG files are stored byte for byte
    raw = next(x for x in read_shards(paths, decode=False) if x["id"] == "loc2")
    assert raw["images"][3] == (tmp_path / "img" / "loc2_v3.jpg").read_bytes()


def test_manifest_to_shards_max_side(tmp_path):
    df = write_manifest_folder(tmp_path, n=2, views=1, size=64)
    df.attrs["root"] = str(tmp_path)
    paths, report = manifest_to_shards(df, tmp_path / "sh", max_side=32, progress=False)
    assert report.ok
    sizes = [s["images"][0].size for s in read_shards(paths)]
    assert sizes == [(32, 32), (32, 32)]
    paths2, _ = manifest_to_shards(df, tmp_path / "sh2", max_side=100, progress=False)
    raw = next(iter(read_shards(paths2, decode=False)))
    assert raw["images"][0] == (tmp_path / df["path"][0]).read_bytes()  # small enough: untouched
