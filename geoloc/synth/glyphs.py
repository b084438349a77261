"""Procedural writing: a stroke alphabet per script, drawn with lines (no fonts).

Each ISO 15924 script code maps to a *family* that fixes the stroke vocabulary and layout
(the visual gestalt people recognise at a glance), and the alphabet itself (24 glyphs)
is generated from the SHA-256 of the script code, so it is stable across runs:

=================  =========================================  ====================================
family             scripts                                    look
=================  =========================================  ====================================
latin              Latn, Cyrl, Grek, Armn, Geor, others       stems, bowls, diagonals on a baseline
block              Hans, Hant, Jpan, Kore                     dense square blocks of H/V strokes
                                                              (Kore adds circles, Jpan adds hooks)
headline           Deva, Beng, Guru, Gujr, Tibt, Orya         a bar along the top of each word
cursive            Arab, Thaa, Syrc                           a connected baseline with dots,
                                                              written right to left
loops              Thai, Laoo, Khmr, Mymr, Sinh, Taml, Telu,  small loops and curls
                   Knda, Mlym, Ethi
square             Hebr                                       open squares hanging from the top,
                                                              right to left
=================  =========================================  ====================================

A glyph is a list of polylines in the unit cell (x right, y down, both 0..1).
"""

from __future__ import annotations

import functools

import numpy as np

from geoloc.synth.attributes import stable_hash

SCRIPT_FAMILY = {
    "Hans": "block", "Hant": "block", "Jpan": "block", "Kore": "block",
    "Deva": "headline", "Beng": "headline", "Guru": "headline", "Gujr": "headline", "Tibt": "headline",
    "Orya": "headline",
    "Arab": "cursive", "Thaa": "cursive", "Syrc": "cursive",
    "Thai": "loops", "Laoo": "loops", "Khmr": "loops", "Mymr": "loops", "Sinh": "loops", "Taml": "loops",
    "Telu": "loops", "Knda": "loops", "Mlym": "loops", "Ethi": "loops",
    "Hebr": "square",
}
RIGHT_TO_LEFT = {"cursive", "square"}
ALPHABET_SIZE = 24

Polyline = list[tuple[float, float]]


def script_family(script: str) -> str:
    """The drawing family of an ISO 15924 script code (``latin`` for unknown codes)."""
    return SCRIPT_FAMILY.get(script, "latin")


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 6) -> Polyline:
    t = np.linspace(a0, a1, n)
    return [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in t]


def _latin_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = []
    kind = rng.integers(0, 6)
    x0, x1 = 0.2, 0.8
    if kind in (0, 1, 4):  # a stem
        x = x0 if rng.random() < 0.6 else x1
        strokes.append([(x, 0.1), (x, 0.9)])
    if kind in (1, 2):  # a bowl
        side = 1 if rng.random() < 0.7 else -1
        strokes.append(_arc(0.5, 0.65 if rng.random() < 0.5 else 0.35, 0.3, 0.25,
                            -np.pi / 2 * side, np.pi / 2 * side))
    if kind == 3:  # a diagonal pair
        strokes.append([(x0, 0.9), (0.5, 0.1), (x1, 0.9)] if rng.random() < 0.5 else [(x0, 0.1), (x1, 0.9)])
    if kind == 4:  # an arm
        y = float(rng.choice([0.1, 0.5, 0.9]))
        strokes.append([(x0, y), (x1, y)])
    if kind == 5:  # a full round
        strokes.append(_arc(0.5, 0.5, 0.32, 0.4, 0, 2 * np.pi, 9))
    if script == "Cyrl" and rng.random() < 0.4:
        strokes.append([(x1, 0.1), (x1, 0.9), (x1 + 0.1, 1.0)])
    if script == "Grek" and rng.random() < 0.4:
        strokes.append([(x0, 0.1), (x1, 0.1)])
    if script in ("Armn", "Geor") and rng.random() < 0.6:
        strokes.append(_arc(0.5, 0.7, 0.25, 0.2, 0, np.pi, 5))
    return strokes


def _block_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = []
    for _ in range(int(rng.integers(3, 6))):
        if rng.random() < 0.55:
            y = float(rng.uniform(0.1, 0.9))
            a, b = sorted(rng.uniform(0.05, 0.95, 2))
            strokes.append([(float(a), y), (float(b), y)])
        else:
            x = float(rng.uniform(0.1, 0.9))
            a, b = sorted(rng.uniform(0.05, 0.95, 2))
            strokes.append([(x, float(a)), (x, float(b))])
    if script == "Kore" and rng.random() < 0.6:
        strokes.append(_arc(0.5, 0.7, 0.2, 0.18, 0, 2 * np.pi, 8))
    if script == "Jpan" and rng.random() < 0.5:
        strokes.append(_arc(0.5, 0.5, 0.35, 0.35, -np.pi / 2, np.pi / 2, 6))
    return strokes


def _headline_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = [[(0.0, 0.12), (1.0, 0.12)]]
    x = float(rng.uniform(0.55, 0.85))
    strokes.append([(x, 0.12), (x, 0.9)])
    if rng.random() < 0.7:
        strokes.append(_arc(0.35, 0.5, 0.2, 0.22, -np.pi / 2, 1.5 * np.pi, 7))
    if rng.random() < 0.3:
        strokes.append(_arc(0.5, 0.0, 0.2, 0.12, np.pi, 2 * np.pi, 5))
    return strokes


def _cursive_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = [[(0.0, 0.8), (1.0, 0.8)]]
    kind = rng.integers(0, 4)
    if kind == 0:
        strokes.append([(0.5, 0.8), (0.5, 0.1)])
    elif kind == 1:
        strokes.append(_arc(0.5, 0.65, 0.3, 0.2, 0, np.pi, 5))
    elif kind == 2:
        strokes.append(_arc(0.5, 0.9, 0.35, 0.3, np.pi, 2 * np.pi, 5))
    for _ in range(int(rng.integers(0, 3))):
        y = 0.4 if rng.random() < 0.6 else 1.0
        xd = float(rng.uniform(0.3, 0.7))
        strokes.append([(xd, y), (xd + 0.08, y)])
    return strokes


def _loops_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = [_arc(0.5, 0.55, 0.3, 0.3, 0, 2 * np.pi, 8)]
    if rng.random() < 0.6:
        strokes.append([(0.8, 0.55), (0.8, 0.95)] if rng.random() < 0.5 else [(0.2, 0.55), (0.2, 0.15)])
    if rng.random() < 0.5:
        strokes.append(_arc(0.25, 0.9, 0.1, 0.08, 0, 2 * np.pi, 6))
    if script == "Ethi":
        strokes.append([(0.2, 0.9), (0.2, 1.0)])
        strokes.append([(0.8, 0.9), (0.8, 1.0)])
    return strokes


def _square_glyph(rng: np.random.Generator, script: str) -> list[Polyline]:
    strokes: list[Polyline] = [[(0.1, 0.15), (0.9, 0.15)]]
    if rng.random() < 0.7:
        strokes.append([(0.85, 0.15), (0.85, 0.9)])
    if rng.random() < 0.5:
        strokes.append([(0.2, 0.15), (0.2, 0.7)])
    if rng.random() < 0.4:
        strokes.append([(0.1, 0.9), (0.9, 0.9)])
    return strokes


_MAKERS = {
    "latin": _latin_glyph, "block": _block_glyph, "headline": _headline_glyph,
    "cursive": _cursive_glyph, "loops": _loops_glyph, "square": _square_glyph,
}


@functools.lru_cache(maxsize=64)
def alphabet(script: str) -> tuple[tuple[tuple[tuple[float, float], ...], ...], ...]:
    """The script's :data:`ALPHABET_SIZE` glyphs: tuple of glyphs, each a tuple of polylines."""
    rng = np.random.default_rng(stable_hash("glyphs", script))
    make = _MAKERS[script_family(script)]
    return tuple(tuple(tuple(p) for p in make(rng, script)) for _ in range(ALPHABET_SIZE))


def layout_text(script: str, codes: list[int], width: float, height: float) -> list[Polyline]:
    """Polylines (pixel units, origin at the box's top-left) of a line of glyphs filling a box.

    ``codes`` are glyph indices (mod :data:`ALPHABET_SIZE`); right-to-left families are laid
    out from the right edge.
    """
    glyphs = alphabet(script)
    n = max(1, len(codes))
    fam = script_family(script)
    cell = min(height, width / n)
    gap = cell * (0.0 if fam in ("cursive", "headline") else 0.15)
    out: list[Polyline] = []
    for k, c in enumerate(codes):
        slot = (n - 1 - k) if fam in RIGHT_TO_LEFT else k
        ox = slot * cell + gap / 2
        oy = (height - cell) / 2
        s = cell - gap
        for line in glyphs[c % ALPHABET_SIZE]:
            out.append([(ox + x * s, oy + y * s) for x, y in line])
    return out
