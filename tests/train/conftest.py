"""Fixtures: a small learnable multi-view manifest of generated PNGs (fast; no SynthWorld rendering)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image


def write_toy_manifest(folder: Path, n: int, *, seed: int, views: int = 4, size: int = 64) -> Path:
    """``n`` locations x ``views`` PNGs whose colours are smooth functions of (lat, lon) plus
    noise (so location is learnable), with ``country``/``climate``/``month``/``town`` columns."""
    from geoloc.geo import sample_photo_locations

    rng = np.random.default_rng(seed)
    lat, lon = sample_photo_locations(n, seed=seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        base = np.array([(lon[i] + 180) / 360, (lat[i] + 90) / 180, 0.5 + 0.5 * np.sin(np.radians(lon[i]) * 3)])
        for v in range(views):
            img = np.clip(base[None, None, :] + 0.08 * rng.normal(size=(size, size, 3)), 0, 1)
            img[v * 8:(v + 1) * 8] = 1.0 - base  # a view-specific band
            path = f"img/{i:04d}_{v}.png"
            Image.fromarray((img * 255).astype(np.uint8)).save(folder / path)
            rows.append({"id": f"loc{i:04d}", "view": v, "heading": 90.0 * v, "path": path,
                         "lat": lat[i], "lon": lon[i],
                         "country": "EAST" if lon[i] > 0 else "WEST", "admin1": "N" if lat[i] > 0 else "S",
                         "climate": "Cf" if abs(lat[i]) > 30 else "Aw", "month": int(i % 12) + 1,
                         "town": f"Town{i % 7}", "drives_left": bool(i % 3 == 0)})
    df = pd.DataFrame(rows)
    df.to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> dict[str, Path]:
    """``{"train": manifest.csv (120 locations x 4 views), "test": manifest.csv (24 locations)}``."""
    base = tmp_path_factory.mktemp("toy")
    return {"train": write_toy_manifest(base / "train", 120, seed=11),
            "test": write_toy_manifest(base / "test", 24, seed=12)}
