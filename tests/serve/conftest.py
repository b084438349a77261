"""Fixtures of the server tests: one loaded tiny Geolocator per worker."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def geolocator(tiny_bundle_dir):
    from geoloc.predict import Geolocator

    return Geolocator.from_pretrained(tiny_bundle_dir, device="cpu")
