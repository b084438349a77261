"""Helpers shared by the arena tests (a module of its own: `from conftest import` would pick up
whichever conftest.py pytest imported first when several test folders run together)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

from bot.arena import map_from_arrays

HEADING_COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def solid_views(size: int = 32) -> list[Image.Image]:
    """Four flat views; the colour names the heading (HEADING_COLOURS)."""
    return [Image.new("RGB", (size, size), c) for c in HEADING_COLOURS]


def random_map(n: int = 12, seed: int = 0, name: str = "testmap"):
    """``n`` random places (|lat| <= 70) with solid-colour views."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-70, 70, n)
    lon = rng.uniform(-180, 180, n)
    return map_from_arrays(lat, lon, [solid_views() for _ in range(n)], name=name)


def coordinate_strings(lat: float, lng: float) -> list[bytes]:
    """How a place's coordinates could appear in a body: JSON repr and 3 to 6 decimals."""
    out = []
    for v in (lat, lng):
        out.append(json.dumps(v).encode())
        out += [f"{v:.{k}f}".encode() for k in (3, 4, 5, 6)]
    return out


class Client:
    """Minimal HTTP client: every call returns (status, parsed JSON or raw bytes) and keeps the bodies
    (and the response headers of the last call). ``player``: the ``geoloc_player`` cookie it sends."""

    def __init__(self, base: str, player: str | None = None):
        self.base = base
        self.player = player
        self.bodies: list[bytes] = []
        self.headers: dict[str, str] = {}

    def raw(self, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.player:
            headers["Cookie"] = f"geoloc_player={self.player}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, body, self.headers = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, body, self.headers = err.code, err.read(), dict(err.headers)
        self.bodies.append(body)
        return status, body

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.raw(method, path, data)
        return status, json.loads(raw)


def ref_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Textbook haversine in float64 (R = 6371.0088 km), independent of geoloc.geo."""
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def ref_points(km: float | None) -> int:
    """GeoGuessr's world-map score from FRONTENDS.md §1.3, written out (0 without a guess)."""
    import math

    return 0 if km is None else round(5000 * math.exp(-10 * km / 14916.862))


def ref_damage(mine: int, theirs: int, round_number: int) -> int:
    """HP the player scoring ``mine`` loses: the difference times 1 (rounds 1-4), 1.5, 2, ... half up."""
    import math

    mult = 1.0 + 0.5 * max(0, round_number - 4)
    return math.floor((theirs - mine) * mult + 0.5) if mine < theirs else 0
