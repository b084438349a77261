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


class Client:
    """Minimal HTTP client: every call returns (status, parsed JSON or raw bytes) and keeps the bodies."""

    def __init__(self, base: str):
        self.base = base
        self.bodies: list[bytes] = []

    def raw(self, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        self.bodies.append(body)
        return status, body

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.raw(method, path, data)
        return status, json.loads(raw)
