"""Shared fixtures for SynthWorld tests: a small cached location table."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def locs():
    from geoloc.synth.locations import sample_locations

    return sample_locations(64, seed=3)
