"""Helpers of the in-process game benchmarks (bench_duels.py, bench_streaks.py): the players see a
round only through the arena's game API (``GameStore.view`` JPEGs of the round's panoId), and the
intervals reported with the figures."""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
from PIL import Image

from bot.arena.maps import HEADINGS


def round_views(store, pano: dict, all_headings: bool) -> list[bytes]:
    """JPEG bytes of a round's views through the game API: every heading, or the start one only."""
    heads = HEADINGS if all_headings else (pano["heading"],)
    return [store.view(pano["panoId"], h) for h in heads]


def decode(jpegs: list[bytes]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(b)).convert("RGB") for b in jpegs]


class Memo:
    """Memoises a deterministic model call per set of view bytes (the same place is drawn again in
    other duels); counts hits so the table can say so."""

    def __init__(self, fn):
        self.fn, self.cache, self.hits, self.calls = fn, {}, 0, 0

    def __call__(self, jpegs: list[bytes]):
        key = hashlib.sha1(b"".join(jpegs)).hexdigest()
        self.calls += 1
        if key in self.cache:
            self.hits += 1
        else:
            self.cache[key] = self.fn(decode(jpegs))
        return self.cache[key]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def mean_ci(x, z: float = 1.96) -> tuple[float, float, float]:
    """(mean, low, high): the mean with a normal-approximation 95 % interval (s.e. with ddof=1)."""
    a = np.asarray(list(x), dtype=np.float64)
    if a.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(a.mean())
    if a.size < 2:
        return (m, math.nan, math.nan)
    half = z * float(a.std(ddof=1)) / math.sqrt(a.size)
    return m, m - half, m + half
