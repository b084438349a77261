"""Helpers of the server tests: distinct JPEGs, an instrumented Geolocator, concurrent requests."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image


def jpeg(seed: int, size: tuple[int, int] = (80, 64)) -> bytes:
    """A random RGB JPEG (distinct per seed)."""
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class Instrumented:
    """A Geolocator whose ``predict`` records the number of locations of every call, signals ``entered`` and
    waits for ``gate`` (set by default) before predicting; ``fail_on(size)`` makes a call raise when one of its
    locations has a view of that size (to test the batcher's isolation). Everything else is the real model."""

    def __init__(self, geo):
        self._geo = geo
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.fail_size: tuple[int, int] | None = None

    def __getattr__(self, name):
        return getattr(self._geo, name)

    def predict(self, items, **kwargs):
        self.calls.append(len(items))
        self.entered.set()
        assert self.gate.wait(60), "test gate never opened"
        if self.fail_size is not None and any(v.size == self.fail_size for views in items for v in views):
            raise RuntimeError("injected failure\nsecond line")
        return self._geo.predict(items, **kwargs)


def concurrently(fns) -> list:
    """Run the zero-argument callables at once (one thread each); their results (or exceptions), in order."""
    def guard(fn):
        try:
            return fn()
        except Exception as exc:  # returned, so the test can assert on it
            return exc

    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(guard, fns))
