"""Fixtures of the app tests: small images (with and without EXIF GPS) and a loaded tiny Geolocator."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def geolocator(tiny_bundle_dir):
    from geoloc.predict import Geolocator

    return Geolocator.from_pretrained(tiny_bundle_dir, device="cpu")
