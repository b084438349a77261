"""A SynthWorld scene as a small 3-D world: road, buildings, roadside objects, sky, nuisance.

:func:`build_scene` turns a location's attributes into a :class:`Scene` (plain data); the
renderer (:mod:`geoloc.synth.render`) projects the same scene into each heading, so the four
views of a location are consistent (the sun, the road, the buildings and the town billboard
are where they should be in every view).

World frame: metres, ``u`` along the road (the road's bearing, ``road_bearing`` degrees
clockwise from north), ``v`` to the right of it, ``z`` up. The road centre is ``v = 0``; the
camera stands in the driving lane (``v = +w/4`` when traffic keeps right, ``-w/4`` when it
keeps left) at height :data:`CAMERA_HEIGHT_M`.

Cue families (``cues``; see docs/synthworld.md for the full table): ``sky, ground, road,
furniture, signs, buildings, palette, motif, nuisance``. Every family draws its random
numbers from its own stream (SHA-256 of the scene seed and the family name), so switching a
family off never changes what the others draw. Each family is also *omitted* at random in
some scenes (see :data:`PRESENCE`), as in real coverage.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from geoloc.synth.attributes import stable_hash
from geoloc.synth.style import (
    Admin1Palette,
    CountryStyle,
    TownMotif,
    admin1_palette,
    country_style,
    town_motif,
)

CUE_FAMILIES = ("sky", "ground", "road", "furniture", "signs", "buildings", "palette", "motif", "nuisance")
CAMERA_HEIGHT_M = 2.4
EXTENT_M = 140.0
"""Objects are placed along ``-EXTENT_M <= u <= EXTENT_M``."""

PRESENCE = {"road_markings": 0.85, "bollards": 0.75, "poles": 0.8, "signs": 0.7, "motif": 0.8,
            "traffic": 0.65}
"""Probability that a cue is shown at all in a scene (random omission)."""

NEUTRAL_STYLE = CountryStyle(
    lane_colour=(200, 200, 200), lane_pattern="dashed", edge_line=False, asphalt=(95, 95, 98),
    kerb="plain", bollard_prob=0.0, bollard_shape="round", bollard_body=(150, 150, 150),
    bollard_cap=(150, 150, 150), reflector=(150, 150, 150), pole_material=(140, 140, 140),
    pole_top="none", sign_shape="rect", sign_bg=(200, 200, 200), sign_border=(200, 200, 200),
    sign_ink=(60, 60, 60), roof="flat", roof_alt="gable", wall_hue=0.1, wall_sat=0.1, storeys=(1, 4),
)
NEUTRAL_PALETTE = Admin1Palette(0.0, 0.0, (110, 90, 80), (200, 200, 200))

# Ground colour (RGB) by climate and season; vegetation mixes by climate.
GROUND = {
    "Af": {"winter": (58, 122, 42), "spring": (60, 128, 44), "summer": (55, 120, 40), "autumn": (62, 125, 45)},
    "Aw": {"winter": (168, 150, 84), "spring": (150, 140, 78), "summer": (78, 132, 50), "autumn": (110, 135, 60)},
    "BW": {"winter": (206, 180, 132), "spring": (206, 182, 134), "summer": (214, 186, 136), "autumn": (208, 182, 132)},
    "BS": {"winter": (160, 146, 100), "spring": (130, 138, 82), "summer": (170, 152, 96), "autumn": (165, 148, 98)},
    "Cs": {"winter": (92, 136, 62), "spring": (100, 142, 60), "summer": (182, 164, 102), "autumn": (160, 150, 92)},
    "Cf": {"winter": (100, 116, 78), "spring": (90, 146, 62), "summer": (78, 138, 56), "autumn": (118, 128, 62)},
    "D": {"winter": (234, 238, 245), "spring": (112, 126, 80), "summer": (72, 130, 52), "autumn": (132, 118, 60)},
    "E": {"winter": (236, 240, 246), "spring": (226, 232, 240), "summer": (122, 112, 82), "autumn": (200, 204, 210)},
}
VEGETATION = {
    "Af": {"palm": 0.5, "broadleaf": 0.5},
    "Aw": {"acacia": 0.5, "palm": 0.3, "broadleaf": 0.2},
    "BW": {"shrub": 0.7, "cactus": 0.2, "palm": 0.1},
    "BS": {"shrub": 0.7, "deciduous": 0.3},
    "Cs": {"cypress": 0.45, "olive": 0.45, "palm": 0.1},
    "Cf": {"deciduous": 0.75, "conifer": 0.25},
    "D": {"conifer": 0.6, "deciduous": 0.4},
    "E": {"shrub": 1.0},
}
TREE_DENSITY = {"Af": 0.9, "Aw": 0.5, "BW": 0.12, "BS": 0.3, "Cs": 0.5, "Cf": 0.7, "D": 0.75, "E": 0.1}
CLOUD_COVER = {"Af": 0.55, "Aw": 0.35, "BW": 0.05, "BS": 0.2, "Cs": 0.22, "Cf": 0.55, "D": 0.45, "E": 0.6}
FOLIAGE = {"winter": None, "spring": (120, 170, 70), "summer": (50, 110, 40), "autumn": (200, 120, 40)}


@dataclass
class Sprite:
    """A camera-facing object standing at ``(u, v)`` (metres). ``kind`` picks the drawing."""

    kind: str
    u: float
    v: float
    params: dict = field(default_factory=dict)
    family: str = ""


@dataclass
class Building:
    """A facade parallel to the road from ``u0`` to ``u1`` at lateral ``v`` (metres)."""

    u0: float
    u1: float
    v: float
    height: float
    wall: tuple[int, int, int]
    roof: str
    roof_colour: tuple[int, int, int]
    trim: tuple[int, int, int]
    floors: int
    window_cols: int
    shop: dict | None = None
    mural: TownMotif | None = None
    """The town motif painted over the whole facade (family ``motif``)."""
    """A shop sign band above the ground floor: ``{"codes": glyph codes or None, "bg": RGB}``."""


@dataclass
class Scene:
    """Everything the renderer needs for one location (see module docstring)."""

    attrs: dict
    cues: frozenset[str]
    road_bearing: float
    road_width: float
    camera_v: float
    drives_left: bool
    asphalt: tuple[int, int, int]
    surface: str
    lane_colour: tuple[int, int, int]
    lane_pattern: str | None
    edge_line: bool
    kerb: str
    sidewalk: bool
    ground: tuple[int, int, int]
    ground_noise: float
    sky: dict
    hills: np.ndarray
    light: float
    sprites: list[Sprite]
    buildings: list[Building]
    nuisance: dict
    motif: TownMotif | None
    script: str
    geometry: list | None = None
    """Per-building polygons, filled by the renderer on first use."""


def normalise_cues(cues: Iterable[str] | str | None) -> frozenset[str]:
    """Validate a cue selection: ``None``/``"all"`` = every family; a comma string or a list.

    Names may be prefixed with ``-`` to remove them from the full set (``"-motif"``).
    """
    from geoloc.errors import GeolocError

    if cues is None or cues == "all":
        return frozenset(CUE_FAMILIES)
    items = [c.strip() for c in (cues.split(",") if isinstance(cues, str) else cues) if c.strip()]
    if items and all(c.startswith("-") for c in items):
        drop = {c[1:] for c in items}
        bad = drop - set(CUE_FAMILIES)
        keep = set(CUE_FAMILIES) - drop
    else:
        bad = set(items) - set(CUE_FAMILIES)
        keep = set(items)
    if bad:
        raise GeolocError(f"unknown cue families {sorted(bad)}; choose from {', '.join(CUE_FAMILIES)}")
    return frozenset(keep)


def _rng(seed: int, family: str) -> np.random.Generator:
    return np.random.default_rng(stable_hash("scene", seed, family))


def _shift(rgb: tuple[int, int, int], hue: float, value: float, sat: float = 0.0) -> tuple[int, int, int]:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, min(max(s + sat, 0), 1), min(max(v + value, 0), 1))
    return round(r * 255), round(g * 255), round(b * 255)


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: float) -> tuple[int, int, int]:
    n = rng.normal(0.0, amount, 3)
    return (min(255, max(0, int(rgb[0] + n[0]))), min(255, max(0, int(rgb[1] + n[1]))),
            min(255, max(0, int(rgb[2] + n[2]))))


def _sky_params(attrs: Mapping, on: bool, rng: np.random.Generator) -> dict:
    el = float(attrs["sun_elevation"])
    cover = float(np.clip(CLOUD_COVER.get(attrs["climate"], 0.4) + rng.normal(0, 0.15), 0, 0.95))
    n_clouds = int(rng.integers(2, 9))
    clouds = np.column_stack([
        rng.uniform(0, 360, n_clouds),  # azimuth deg
        rng.uniform(3, 35, n_clouds),  # elevation deg
        rng.uniform(12, 45, n_clouds),  # half width deg
        rng.uniform(2, 7, n_clouds),  # half height deg
    ])
    if not on:
        return {"on": False, "sun_el": 35.0, "sun_az": 0.0, "cover": 0.0, "clouds": clouds[:0]}
    return {"on": True, "sun_el": el, "sun_az": float(attrs["sun_azimuth"]), "cover": cover,
            "clouds": clouds[: max(0, round(n_clouds * cover * 1.6))]}


def light_level(sun_elevation: float) -> float:
    """Brightness multiplier 0.35..1 of ground and objects for a sun elevation (degrees)."""
    return float(0.35 + 0.65 * np.clip(np.sin(np.radians(sun_elevation)) * 2.2 + 0.15, 0, 1))


def build_scene(attrs: Mapping, cues: Iterable[str] | str | None = None, seed: int | None = None) -> Scene:
    """Lay out the world of one location (see module docstring).

    ``attrs`` is a row of :func:`geoloc.synth.locations.sample_locations` (a mapping with at
    least ``adm0_a3, style_region, adm1_code, town_id, town_km, drives_left, script, climate,
    season, sun_elevation, sun_azimuth, road_bearing``); ``seed`` defaults to its ``scene_seed``.
    """
    cues = normalise_cues(cues)
    seed = int(attrs.get("scene_seed", 0) if seed is None else seed)
    style = country_style(str(attrs["adm0_a3"]), str(attrs["style_region"]))
    road_on = "road" in cues
    furn_on = "furniture" in cues
    rs = style if road_on else NEUTRAL_STYLE
    fs = style if furn_on else NEUTRAL_STYLE
    bs = style if "buildings" in cues else NEUTRAL_STYLE
    pal = admin1_palette(str(attrs["adm1_code"])) if "palette" in cues else NEUTRAL_PALETTE
    climate = str(attrs["climate"]) if "ground" in cues else "Cf"
    season = str(attrs["season"]) if "ground" in cues else "summer"
    drives_left = bool(attrs["drives_left"])

    # --- road layout (family "road")
    r = _rng(seed, "road")
    town_km = float(attrs.get("town_km", 5.0))
    urban = float(np.clip(1.2 - town_km / 6.0, 0.05, 1.0))
    road_width = float(r.uniform(6.0, 8.5))
    paved = r.random() < 0.9
    markings = r.random() < PRESENCE["road_markings"] and paved
    traffic = r.random() < PRESENCE["traffic"]
    cam_side = -1.0 if drives_left else 1.0
    camera_v = cam_side * road_width / 4 if road_on else 0.0
    surface = "asphalt" if paved else "dirt"
    asphalt = _jitter(rs.asphalt, r, 6)
    n_cars = int(r.integers(1, 4))
    car_u = r.uniform(8, 90, n_cars) * np.where(r.random(n_cars) < 0.7, 1, -1)
    car_lane = r.random(n_cars) < 0.5
    car_colour = [tuple(int(c) for c in r.integers(30, 230, 3)) for _ in range(n_cars)]

    sprites: list[Sprite] = []
    if road_on and traffic:
        for k in range(n_cars):
            same = bool(car_lane[k])
            v = cam_side * road_width / 4 * (1 if same else -1)
            # Same-direction cars face +u; oncoming ones face -u.
            sprites.append(Sprite("car", float(car_u[k]), float(v),
                                  {"dir": 1.0 if same else -1.0, "colour": car_colour[k]}, "road"))

    # --- furniture (family "furniture")
    f = _rng(seed, "furniture")
    kerb_v = road_width / 2
    has_bollards = f.random() < PRESENCE["bollards"] and f.random() < fs.bollard_prob + 0.2
    has_poles = f.random() < PRESENCE["poles"]
    spacing_b = f.uniform(18, 35)
    offset_b = f.uniform(0, spacing_b)
    spacing_p = f.uniform(28, 45)
    offset_p = f.uniform(0, spacing_p)
    pole_side = 1.0 if f.random() < 0.5 else -1.0
    if furn_on:
        if has_bollards:
            for side in (-1.0, 1.0):
                for u in np.arange(-EXTENT_M + offset_b, EXTENT_M, spacing_b):
                    sprites.append(Sprite("bollard", float(u), side * (kerb_v + 0.9),
                                          {"style": fs, "side": side}, "furniture"))
        if has_poles:
            for u in np.arange(-EXTENT_M + offset_p, EXTENT_M, spacing_p):
                sprites.append(Sprite("pole", float(u), pole_side * (kerb_v + 1.6), {"style": fs}, "furniture"))

    # --- signs (panel design from "furniture", glyphs from "signs"). Text signs are wide
    # rectangular direction signs in the country's sign colour; shape signs use its shape.
    g = _rng(seed, "signs")
    has_signs = g.random() < PRESENCE["signs"]
    n_signs = int(g.integers(1, 4))
    sign_u = g.uniform(5, 45, n_signs) * np.where(g.random(n_signs) < 0.75, 1, -1)
    sign_text = g.random(n_signs) < 0.65
    codes = [list(g.integers(0, 24, int(g.integers(4, 9)))) for _ in range(n_signs)]
    lines = [int(g.integers(1, 3)) for _ in range(n_signs)]
    if has_signs and ("signs" in cues or furn_on):
        for k in range(n_signs):
            sprites.append(Sprite("sign", float(sign_u[k]), cam_side * (kerb_v + 1.2),
                                  {"style": fs, "text": bool(sign_text[k]),
                                   "codes": codes[k] if "signs" in cues else None,
                                   "lines": lines[k], "script": str(attrs["script"])}, "signs"))

    # --- vegetation (family "ground")
    v_rng = _rng(seed, "ground")
    density = TREE_DENSITY.get(climate, 0.5)
    n_trees = int(v_rng.poisson(4 + 26 * density * (1.1 - 0.6 * urban)))
    kinds = VEGETATION.get(climate, {"deciduous": 1.0})
    tree_kind = v_rng.choice(list(kinds), size=n_trees, p=list(kinds.values()))
    tree_u = v_rng.uniform(-EXTENT_M, EXTENT_M, n_trees)
    tree_side = np.where(v_rng.random(n_trees) < 0.5, -1.0, 1.0)
    tree_off = v_rng.uniform(3.0, 30.0, n_trees)
    tree_h = v_rng.uniform(0.7, 1.3, n_trees)
    foliage = FOLIAGE.get(season) if climate in ("Cf", "D", "BS") else (50, 115, 40)
    if climate in ("Aw",) and season in ("winter", "spring"):
        foliage = (110, 120, 50)
    for k in range(n_trees):
        kind = str(tree_kind[k])
        leaf = foliage if kind == "deciduous" else {"conifer": (30, 80, 45), "palm": (60, 130, 50),
                                                    "cypress": (35, 75, 40), "olive": (110, 130, 90),
                                                    "shrub": (105, 115, 60), "cactus": (70, 120, 70),
                                                    "acacia": (90, 120, 45), "broadleaf": (40, 110, 40)}[kind]
        if leaf is not None:
            leaf = _jitter(leaf, v_rng, 10)
        sprites.append(Sprite("tree", float(tree_u[k]), float(tree_side[k] * (kerb_v + tree_off[k])),
                              {"kind": kind, "leaf": leaf, "scale": float(tree_h[k])}, "ground"))
    ground = GROUND.get(climate, GROUND["Cf"]).get(season, (90, 130, 60))
    ground = _jitter(ground, v_rng, 6)

    # --- buildings (family "buildings", colours shifted by "palette")
    b = _rng(seed, "buildings")
    buildings: list[Building] = []
    p_build = 0.15 + 0.8 * urban
    setback = b.uniform(3.0, 12.0) * (1.3 - urban)
    for side in (-1.0, 1.0):
        u = -EXTENT_M + b.uniform(0, 15)
        while u < EXTENT_M:
            width = float(b.uniform(8, 20))
            gap = float(b.uniform(1, 6) if urban > 0.6 else b.uniform(8, 35))
            place = b.random() < p_build
            lo, hi = bs.storeys
            floors = int(b.integers(lo, hi + 1 + round(2 * urban)))
            roof = bs.roof if b.random() < 0.7 else bs.roof_alt
            hue = bs.wall_hue + b.normal(0, 0.04) + pal.hue_shift
            wall = _shift(colorsys_hsv(hue, bs.wall_sat + b.normal(0, 0.05), 0.72 + b.normal(0, 0.06)),
                          0.0, pal.value_shift)
            cols = int(max(1, width // 3.5))
            vv = side * (kerb_v + 2.0 + setback + b.uniform(0, 4))
            if place:
                buildings.append(Building(u, u + width, vv, floors * 3.0 + 1.0, wall, roof,
                                          _jitter(pal.roof_colour, b, 8), pal.trim, floors, cols))
            u += width + gap
    # Shop signs on ground floors (text in the local script; family "signs" for the glyphs).
    shop = _rng(seed, "shopsigns")
    for bld in buildings:
        has_shop = shop.random() < 0.25 + 0.5 * urban
        shop_codes = list(shop.integers(0, 24, int(shop.integers(3, 8))))
        shop_bg = tuple(int(c) for c in shop.integers(20, 235, 3))
        if has_shop:
            bld.shop = {"codes": shop_codes if "signs" in cues else None, "bg": shop_bg,
                        "script": str(attrs["script"])}

    # --- the town motif (family "motif"): a billboard near the camera, sometimes a facade mural
    m = _rng(seed, "motif")
    motif = town_motif(str(attrs.get("district_id") or attrs["town_id"])) if "motif" in cues else None
    has_motif = m.random() < PRESENCE["motif"]
    bill_u = float(m.uniform(7, 18) * (1 if m.random() < 0.6 else -1))
    bill_side = 1.0 if m.random() < 0.5 else -1.0
    second = m.random() < 0.6
    bill2_u = float(-np.sign(bill_u) * m.uniform(6, 20))
    # Murals: some facades near the camera are painted with the town motif.
    mural_draw = m.random(len(buildings))
    if motif is not None and has_motif:
        for bld, r_m in zip(buildings, mural_draw, strict=True):
            if r_m < 0.45 and min(abs(bld.u0), abs(bld.u1)) < 45.0:
                bld.mural = motif
        # A large town billboard near the camera and often a second emblem (billboard or
        # banner) on the other side, behind, so that most headings show the town's motif.
        sprites.append(Sprite("billboard", bill_u, bill_side * (kerb_v + 2.6), {"motif": motif}, "motif"))
        if second:
            kind = "banner" if motif.banner else "billboard"
            sprites.append(Sprite(kind, bill2_u, -bill_side * (kerb_v + 2.0), {"motif": motif}, "motif"))

    # --- sky and horizon (family "sky")
    s = _rng(seed, "sky")
    sky = _sky_params(attrs, "sky" in cues, s)
    hill_amp = s.uniform(0.0, 6.0)
    hills = np.column_stack([s.uniform(0.5, 1.5, 4) * hill_amp / np.arange(1, 5), s.integers(1, 7, 4),
                             s.uniform(0, 2 * np.pi, 4)])

    # --- nuisance
    n = _rng(seed, "nuisance")
    nuis = {
        "on": "nuisance" in cues,
        "exposure": float(np.exp(n.normal(0, 0.18))),
        "blur": float(n.uniform(0.0, 1.2) if n.random() < 0.35 else 0.0),
        "fog": float(n.uniform(0.2, 0.6) if n.random() < 0.12 else 0.0),
        "rain": bool(n.random() < 0.08),
        "noise": float(n.uniform(1.0, 6.0)),
        "occluder": int(n.integers(0, 4)) if n.random() < 0.2 else -1,
        "occluder_pos": n.uniform(0, 1, 3),
        "seed": int(n.integers(0, 2**31)),
    }
    return Scene(
        attrs=dict(attrs), cues=cues, road_bearing=float(attrs.get("road_bearing", 0.0)),
        road_width=road_width, camera_v=camera_v, drives_left=drives_left, asphalt=asphalt,
        surface=surface if road_on else "asphalt", lane_colour=rs.lane_colour,
        lane_pattern=rs.lane_pattern if (markings and road_on) else None, edge_line=rs.edge_line and road_on,
        kerb=rs.kerb if (furn_on and urban > 0.3) else "plain", sidewalk=urban > 0.45, ground=ground,
        ground_noise=0.06 if climate not in ("D", "E") or season != "winter" else 0.02, sky=sky,
        hills=hills, light=light_level(float(sky["sun_el"])), sprites=sprites, buildings=buildings,
        nuisance=nuis, motif=motif if has_motif else None, script=str(attrs["script"]),
    )


def colorsys_hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV (0..1, hue wraps) to RGB 0..255 with clipping."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return round(r * 255), round(g * 255), round(b * 255)
