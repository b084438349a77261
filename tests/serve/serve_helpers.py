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
    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(lambda fn: _guarded(fn)(), fns))


def wait_for(cond, timeout: float = 30.0) -> None:
    """Poll ``cond()`` every 10 ms until it is true; AssertionError after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def _guarded(fn):
    def run():
        try:
            return fn()
        except Exception as exc:  # returned, so the test can assert on it
            return exc
    return run


def held(model: Instrumented, queued, first, rest, expect_queued: int, while_held=None):
    """Run ``first`` until the model holds it at the gate, then ``rest`` at once; when ``queued()`` shows
    ``expect_queued`` requests waiting, run ``while_held()`` and open the gate. Returns (first's result,
    rest's results, while_held's result); requests' exceptions are returned as results."""
    model.gate.clear()
    model.entered.clear()
    extra = None
    with ThreadPoolExecutor(1 + len(rest)) as pool:
        f0 = pool.submit(_guarded(first))
        futures = []
        try:
            assert model.entered.wait(30), "the first request never reached the model"
            futures = [pool.submit(_guarded(fn)) for fn in rest]
            wait_for(lambda: queued() == expect_queued)
            if while_held is not None:
                extra = while_held()
        finally:
            model.gate.set()
        return f0.result(), [f.result() for f in futures], extra
