"""Fixtures for the zero-shot tests: a small hand-made GeocellSet and a random tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest

# (name, country, country_name, adm1_code, admin1, lat, lon): two cells in each of four countries,
# plus one cell without an admin-1 unit (prompt fallbacks).
TOY_CELLS = [
    ("Ile-de-France", "FRA", "France", "FRA-2000", "Ile-de-France", 48.86, 2.35),
    ("Provence", "FRA", "France", "FRA-2001", "Provence", 43.30, 5.37),
    ("Tokyo", "JPN", "Japan", "JPN-1860", "Tokyo", 35.68, 139.76),
    ("Osaka", "JPN", "Japan", "JPN-1861", "Osaka", 34.69, 135.50),
    ("Sao Paulo", "BRA", "Brazil", "BRA-100", "Sao Paulo", -23.55, -46.63),
    ("Bahia", "BRA", "Brazil", "BRA-101", "Bahia", -12.97, -38.50),
    ("Nairobi", "KEN", "Kenya", "KEN-10", "Nairobi", -1.29, 36.82),
    ("Mombasa", "KEN", "Kenya", "KEN-11", "Mombasa", -4.04, 39.67),
    ("Open sea 1", "", "", "", "", -40.0, -30.0),
]


def make_cells(rows=TOY_CELLS):
    """GeocellSet with a 1-degree box around each (lat, lon)."""
    import geopandas as gpd
    from shapely.geometry import box

    from geoloc.cells.geocell_set import GeocellSet

    frame = gpd.GeoDataFrame(
        {"name": [r[0] for r in rows], "country": [r[1] for r in rows], "country_name": [r[2] for r in rows],
         "adm1_code": [r[3] for r in rows], "admin1": [r[4] for r in rows],
         "size": np.full(len(rows), 10, dtype=np.int64),
         "lat": [r[5] for r in rows], "lon": [r[6] for r in rows]},
        geometry=[box(r[6] - 0.5, r[5] - 0.5, r[6] + 0.5, r[5] + 0.5) for r in rows], crs="EPSG:4326")
    return GeocellSet(frame, {"kind": "test"})


@pytest.fixture(scope="session")
def toy_cells():
    return make_cells()


@pytest.fixture(scope="session")
def cells_factory():
    """:func:`make_cells` (rows -> GeocellSet) for tests that need other cells."""
    return make_cells


@pytest.fixture(scope="session")
def tiny_clip():
    """A randomly initialised ``geoloc-tiny-vit`` CLIP (vision + text tower), seeded."""
    import torch

    from geoloc.zeroshot import load_clip

    torch.manual_seed(0)
    return load_clip("geoloc-tiny-vit")
