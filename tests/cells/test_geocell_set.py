"""GeocellSet: lookup, neighbours, summary, files and maps."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from geoloc.cells.geocell_set import FORMAT_VERSION, METADATA_KEY, GeocellSet
from geoloc.errors import CoordinateError, InputFileError


def _toy() -> GeocellSet:
    import geopandas as gpd

    boxes = [
        shapely.box(0, 0, 1, 1),
        shapely.box(1, 0, 2, 1),
        shapely.box(0, 1, 2, 2),
        shapely.box(5, 5, 6, 6),
    ]
    frame = gpd.GeoDataFrame(
        {
            "name": ["a", "b", "c", "far"],
            "country": ["X", "X", "Y", "Z"],
            "country_name": ["Ex", "Ex", "Why", "Zed"],
            "adm1_code": ["X-1", "X-2", "Y-1", "Z-1"],
            "admin1": ["one", "two", "uno", "eins"],
            "size": [3, 4, 5, 0],
            "lat": [0.5, 0.5, 1.5, 5.5],
            "lon": [0.5, 1.5, 1.0, 5.5],
        },
        geometry=boxes,
        crs="EPSG:4326",
    )
    return GeocellSet(frame, {"kind": "toy"})


def test_assign_inside_border_and_outside():
    cells = _toy()
    lat = np.array([0.5, 0.5, 1.5, 0.5, -3.0, 5.5, 0.2])
    lon = np.array([0.5, 1.5, 0.3, 1.0, 0.5, 5.5, 3.0])
    # inside a, inside b, inside c, on the a|b border (lowest index), south of a (nearest), far, east of b
    np.testing.assert_array_equal(cells.assign(lat, lon), [0, 1, 2, 0, 0, 3, 1])
    with pytest.raises(CoordinateError, match="row 1"):
        cells.assign([0.0, np.nan], [0.0, 0.0])


def test_assign_matches_brute_force_nearest():
    cells = _toy()
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-10, 10, 500), rng.uniform(-10, 10, 500)
    got = cells.assign(lat, lon)
    pts = shapely.points(lon, lat)
    d = np.stack([shapely.distance(g, pts) for g in cells.geometries], axis=1)
    np.testing.assert_array_equal(got, np.argmin(d, axis=1))  # no exact ties for random points


def test_centroids_neighbours_summary():
    cells = _toy()
    assert len(cells) == 4
    np.testing.assert_array_equal(cells.centroids[1], [0.5, 1.5])
    assert cells.neighbours(0).tolist() == [1, 2]
    assert cells.neighbours(2).tolist() == [0, 1]
    assert cells.neighbours(3).tolist() == []
    for i in range(3):  # symmetric
        for j in cells.neighbours(i):
            assert i in cells.neighbours(int(j))
    s = cells.summary()
    assert s["cells"] == 4 and s["points"] == 12 and s["countries"] == 3
    assert s["size_min"] == 0 and s["size_max"] == 5 and s["empty_cells"] == 1
    assert s["top_countries"][0] == ("X", 2, 7)


def test_save_load_round_trip(tmp_path, built):
    cells, _ = built
    path = cells.save(tmp_path / "cells.parquet")
    again = GeocellSet.load(path)
    assert again.equals(cells)
    assert again.meta == cells.meta
    assert again.meta["kind"] == "semantic"
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(49, 54, 300), rng.uniform(2, 8, 300)
    np.testing.assert_array_equal(again.assign(lat, lon), cells.assign(lat, lon))


def test_load_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        GeocellSet.load(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(InputFileError, match="not a readable Parquet"):
        GeocellSet.load(bad)
    path = _toy().save(tmp_path / "toy.parquet")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[METADATA_KEY] = json.dumps({"format_version": FORMAT_VERSION + 1}).encode()
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "future.parquet")
    with pytest.raises(InputFileError, match="format version"):
        GeocellSet.load(tmp_path / "future.parquet")
    del meta[METADATA_KEY]
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "foreign.parquet")
    with pytest.raises(InputFileError, match="not a geoloc geocell file"):
        GeocellSet.load(tmp_path / "foreign.parquet")


def test_plot_writes_png(tmp_path, built):
    cells, _ = built
    out = cells.plot(tmp_path / "map.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
