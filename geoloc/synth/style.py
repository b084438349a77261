"""Per-region, per-country, per-admin-1 and per-town design parameters, derived from SHA-256.

Every parameter is a pure function of codes (``style_region``, ``adm0_a3``, ``adm1_code``,
``town_id``) through :func:`geoloc.synth.attributes.stable_hash`, so it is identical on every
run and platform. Country parameters *inherit* their region's value with probability
:data:`INHERIT` per parameter and otherwise draw their own: neighbouring countries (same
style region) share most designs, as real road markings and bollards do, and only the
combination tells them apart. All colours are RGB tuples 0..255.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass

import numpy as np

from geoloc.synth.attributes import stable_hash

INHERIT = 0.55

LANE_PATTERNS = ("dashed", "long_dash", "solid", "double", "solid_dashed")
LANE_COLOURS = {"white": (236, 236, 230), "yellow": (236, 196, 40), "orange": (235, 140, 40)}
KERB_PATTERNS = ("plain", "black_white", "red_white", "yellow_black", "none")
BOLLARD_SHAPES = ("round", "flat", "slant", "cylinder")
BOLLARD_BODIES = {"white": (232, 232, 226), "black": (40, 40, 42), "yellow": (226, 190, 40),
                  "green": (60, 120, 70), "grey": (150, 150, 150)}
REFLECTORS = {"red": (210, 40, 30), "orange": (240, 130, 20), "white": (250, 250, 250),
              "yellow": (250, 220, 30), "blue": (40, 90, 220)}
SIGN_SHAPES = ("rect", "diamond", "circle", "triangle", "wide")
SIGN_COLOURS = {"blue": (30, 70, 160), "green": (20, 110, 60), "white": (236, 236, 236),
                "yellow": (240, 200, 30), "brown": (110, 60, 30), "red": (190, 30, 30)}
POLE_MATERIALS = {"wood": (105, 80, 55), "concrete": (170, 168, 160), "steel": (120, 125, 130),
                  "dark": (60, 60, 62)}
POLE_TOPS = ("cross1", "cross2", "lamp", "t_top", "none")
ROOFS = ("gable", "flat", "hip", "pagoda", "dome", "parapet", "shed")
MOTIF_PATTERNS = ("vstripes", "hstripes", "checker", "diagonal", "disc", "cross", "chevron", "ring")
MOTIF_PALETTE = (
    (220, 40, 40), (240, 150, 20), (240, 220, 40), (60, 170, 60), (30, 140, 200), (40, 60, 180),
    (150, 60, 170), (240, 240, 240), (30, 30, 30), (220, 100, 160), (20, 170, 160), (140, 90, 40),
)


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_hash(*parts))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class CountryStyle:
    """Road, furniture and sign designs of one country (see module docstring)."""

    lane_colour: tuple[int, int, int]
    lane_pattern: str
    edge_line: bool
    asphalt: tuple[int, int, int]
    kerb: str
    bollard_prob: float
    bollard_shape: str
    bollard_body: tuple[int, int, int]
    bollard_cap: tuple[int, int, int]
    reflector: tuple[int, int, int]
    pole_material: tuple[int, int, int]
    pole_top: str
    sign_shape: str
    sign_bg: tuple[int, int, int]
    sign_border: tuple[int, int, int]
    sign_ink: tuple[int, int, int]
    roof: str
    roof_alt: str
    wall_hue: float
    wall_sat: float
    storeys: tuple[int, int]


def _draw_country_like(key: str) -> dict:
    """One full draw of every design parameter from the hash of ``key``."""
    r = _rng("style", key)
    lane_colour = str(r.choice(list(LANE_COLOURS), p=[0.6, 0.35, 0.05]))
    sign_bg = str(r.choice(list(SIGN_COLOURS)))
    ink = (20, 20, 20) if sign_bg in ("white", "yellow") else (245, 245, 245)
    body = str(r.choice(list(BOLLARD_BODIES)))
    asphalt_v = r.uniform(0.28, 0.5)
    return {
        "lane_colour": LANE_COLOURS[lane_colour],
        "lane_pattern": str(r.choice(LANE_PATTERNS)),
        "edge_line": bool(r.random() < 0.6),
        "asphalt": _hsv(r.uniform(0.55, 0.65), r.uniform(0.0, 0.12), asphalt_v),
        "kerb": str(r.choice(KERB_PATTERNS, p=[0.4, 0.15, 0.15, 0.1, 0.2])),
        "bollard_prob": float(r.uniform(0.2, 0.95)),
        "bollard_shape": str(r.choice(BOLLARD_SHAPES)),
        "bollard_body": BOLLARD_BODIES[body],
        "bollard_cap": BOLLARD_BODIES[str(r.choice(["black", "white", "grey", "yellow"]))],
        "reflector": REFLECTORS[str(r.choice(list(REFLECTORS)))],
        "pole_material": POLE_MATERIALS[str(r.choice(list(POLE_MATERIALS)))],
        "pole_top": str(r.choice(POLE_TOPS)),
        "sign_shape": str(r.choice(SIGN_SHAPES)),
        "sign_bg": SIGN_COLOURS[sign_bg],
        "sign_border": (240, 240, 240) if r.random() < 0.5 else (200, 30, 30),
        "sign_ink": ink,
        "roof": str(r.choice(ROOFS, p=[0.3, 0.2, 0.15, 0.07, 0.06, 0.12, 0.1])),
        "roof_alt": str(r.choice(ROOFS, p=[0.3, 0.2, 0.15, 0.07, 0.06, 0.12, 0.1])),
        "wall_hue": float(r.random()),
        "wall_sat": float(r.uniform(0.05, 0.45)),
        "storeys": (int(r.integers(1, 3)), int(r.integers(2, 7))),
    }


@functools.lru_cache(maxsize=4096)
def country_style(adm0_a3: str, style_region: str) -> CountryStyle:
    """Designs of a country: each parameter is the region's with probability :data:`INHERIT`."""
    region = _draw_country_like(f"region:{style_region}")
    own = _draw_country_like(f"country:{adm0_a3}")
    r = _rng("inherit", adm0_a3)
    merged = {k: (region[k] if r.random() < INHERIT else own[k]) for k in region}
    lo, hi = merged["storeys"]
    merged["storeys"] = (min(lo, hi), max(lo, hi))
    return CountryStyle(**merged)


@dataclass(frozen=True)
class Admin1Palette:
    """Palette shift of an admin-1 unit: wall hue offset, roof and fence colours, trim."""

    hue_shift: float
    value_shift: float
    roof_colour: tuple[int, int, int]
    trim: tuple[int, int, int]


@functools.lru_cache(maxsize=16384)
def admin1_palette(adm1_code: str) -> Admin1Palette:
    """Palette of an admin-1 unit (hash of ``adm1_code``)."""
    r = _rng("admin1", adm1_code)
    roof = _hsv(float(r.choice([0.0, 0.03, 0.07, 0.6, 0.35])), r.uniform(0.2, 0.7), r.uniform(0.25, 0.6))
    trim = _hsv(float(r.random()), r.uniform(0.1, 0.6), r.uniform(0.6, 0.95))
    return Admin1Palette(float(r.uniform(-0.12, 0.12)), float(r.uniform(-0.12, 0.12)), roof, trim)


@dataclass(frozen=True)
class TownMotif:
    """A town's emblem: a pattern in two or three colours, shown on billboards and banners."""

    pattern: str
    colours: tuple[tuple[int, int, int], ...]
    frequency: int
    banner: bool


@functools.lru_cache(maxsize=65536)
def town_motif(town_id: str) -> TownMotif:
    """Motif of a town (hash of ``town_id``)."""
    r = _rng("town", town_id)
    idx = r.choice(len(MOTIF_PALETTE), size=3, replace=False)
    return TownMotif(
        pattern=str(r.choice(MOTIF_PATTERNS)),
        colours=tuple(MOTIF_PALETTE[int(i)] for i in idx),
        frequency=int(r.integers(2, 5)),
        banner=bool(r.random() < 0.5),
    )


def motif_texture(motif: TownMotif, size: int = 16) -> np.ndarray:
    """The motif as an RGB texture uint8 [size, size, 3]."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    f = motif.frequency
    c = np.asarray(motif.colours, dtype=np.uint8)
    p = motif.pattern
    if p == "vstripes":
        k = (np.floor(x * f * 2) % 2).astype(int)
    elif p == "hstripes":
        k = (np.floor(y * f * 2) % 2).astype(int)
    elif p == "checker":
        k = ((np.floor(x * f) + np.floor(y * f)) % 2).astype(int)
    elif p == "diagonal":
        k = (np.floor((x + y) * f * 1.5) % 2).astype(int)
    elif p == "disc":
        k = (((x - 0.5) ** 2 + (y - 0.5) ** 2) < 0.09).astype(int) + (y > 0.8).astype(int)
    elif p == "cross":
        k = ((np.abs(x - 0.5) < 0.12) | (np.abs(y - 0.5) < 0.12)).astype(int)
    elif p == "chevron":
        k = (np.floor((np.abs(x - 0.5) + y) * f * 1.5) % 2).astype(int)
    else:  # ring
        d = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
        k = (np.floor(d * f * 3) % 2).astype(int) + (d > 0.45).astype(int)
    return c[np.clip(k, 0, 2)]
