"""Fixtures of the data-layer tests: the shared real-photo folder and small image factories."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
EXIF_PHOTOS = REPO / ".." / "shared" / "data" / "exif-photos"


@pytest.fixture(scope="session")
def exif_dir() -> Path:
    """The 14 real photos with EXIF GPS (``<repo>/../shared/data/exif-photos``)."""
    if not (EXIF_PHOTOS / "manifest.csv").is_file():
        pytest.skip(f"shared fixture folder {EXIF_PHOTOS} is absent")
    return EXIF_PHOTOS.resolve()


@pytest.fixture(scope="session")
def exif_truth(exif_dir: Path) -> pd.DataFrame:
    return pd.read_csv(exif_dir / "manifest.csv")
