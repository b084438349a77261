"""Country outlines for the guess map: decoding, thinning, geography sanity."""

from __future__ import annotations

import json

import numpy as np
from matplotlib.path import Path as MplPath

from bot.arena.worldmap import outline_rings, thin_ring, world_outlines_json


def test_thin_ring_keeps_ends_and_spacing():
    rng = np.random.default_rng(0)
    ring = np.cumsum(rng.normal(0, 0.1, (500, 2)), axis=0)
    out = thin_ring(ring, 0.5)
    assert (out[0] == ring[0]).all() and (out[-1] == ring[-1]).all()
    steps = np.abs(np.diff(out[:-1], axis=0)).max(axis=1)
    assert (steps >= 0.5).all()
    # every dropped vertex lies within the tolerance of the last kept one before it
    kept = {tuple(p) for p in out}
    last = ring[0]
    for p in ring[1:-1]:
        if tuple(p) in kept:
            last = p
        else:
            assert np.abs(p - last).max() < 0.5


def _contains(rings, lon, lat) -> int:
    return sum(MplPath(r).contains_point((lon, lat)) for r in rings)


def test_outlines_cover_land_not_sea():
    rings = outline_rings(0.25)
    assert len(rings) > 300
    allpts = np.concatenate(rings)
    assert allpts[:, 0].min() >= -180.001 and allpts[:, 0].max() <= 180.001
    assert allpts[:, 1].min() >= -90.001 and allpts[:, 1].max() <= 90.001
    for lon, lat in [(2.35, 48.86), (-99.1, 19.4), (151.2, -33.9), (116.4, 39.9), (-47.9, -15.8), (31.2, 30.0)]:
        assert _contains(rings, lon, lat) % 2 == 1, (lon, lat)
    for lon, lat in [(-30.0, 30.0), (-150.0, 0.0), (80.0, -30.0), (5.0, -5.0)]:
        assert _contains(rings, lon, lat) == 0, (lon, lat)


def test_served_json_round_trips():
    data = json.loads(world_outlines_json())
    rings = data["rings"]
    assert all(len(r) % 2 == 0 and len(r) >= 8 for r in rings)
    assert len(rings) == len(outline_rings(0.25))
