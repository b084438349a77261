"""Render a :class:`~geoloc.synth.scene.Scene` into street-level views (numpy + PIL ImageDraw).

Camera: pinhole, horizontal field of view 90 degrees (focal length ``F = size / 2`` pixels),
level, horizon at mid-height, standing at ``(u=0, v=camera_v)`` at height
:data:`~geoloc.synth.scene.CAMERA_HEIGHT_M`. The view at compass heading ``h`` looks along
``a = h - road_bearing`` in the road frame, so headings 0/90/180/270 show the road ahead,
the roadside, behind, the other roadside (depending on the road's bearing).

Per-pixel layers are vectorised numpy: the sky (gradient from the sun's elevation, sun glow
and disc, clouds, distant hills) and the ground plane (each pixel below the horizon is
intersected with ``z = 0`` and coloured by its road coordinates: asphalt, lane markings with
an anti-aliased footprint, kerb stripes, sidewalk, verge; plus aerial haze). Objects
(facades with roofs and windows; camera-facing sprites for cars, bollards, poles, signs,
trees, billboards) are drawn far to near with PIL. Nuisance (exposure, blur, fog, rain,
sensor noise, occluders) is applied last.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from geoloc.synth.glyphs import layout_text
from geoloc.synth.scene import CAMERA_HEIGHT_M, Building, Scene, Sprite
from geoloc.synth.style import motif_texture

HEADINGS = (0.0, 90.0, 180.0, 270.0)
NEAR_M = 0.6
KERB_COLOURS = {
    "plain": ((185, 185, 180), (185, 185, 180)),
    "black_white": ((235, 235, 235), (30, 30, 30)),
    "red_white": ((200, 40, 35), (235, 235, 235)),
    "yellow_black": ((230, 200, 30), (30, 30, 30)),
}
MIN_SIZE, MAX_SIZE = 32, 512


@functools.lru_cache(maxsize=8)
def _pixel_rays(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-pixel ray slopes for a square view: horizontal ``x`` [S] and vertical ``y`` [S]
    (positive down), both divided by the focal length; and the focal length in pixels."""
    f = size / 2.0
    c = (np.arange(size, dtype=np.float32) + 0.5 - size / 2.0) / f
    return c, c.copy(), f


def _sky_colours(sun_el: float, on: bool) -> tuple[np.ndarray, np.ndarray]:
    """Zenith and horizon colours (float RGB 0..255) for a sun elevation (degrees)."""
    if not on:
        return np.array([120, 150, 190], np.float32), np.array([200, 210, 220], np.float32)
    day_z, day_h = np.array([60, 115, 200], np.float32), np.array([185, 210, 235], np.float32)
    low_z, low_h = np.array([70, 95, 165], np.float32), np.array([245, 175, 120], np.float32)
    dusk_z, dusk_h = np.array([25, 35, 75], np.float32), np.array([160, 110, 115], np.float32)
    if sun_el >= 12:
        return day_z, day_h
    if sun_el >= 2:
        t = (sun_el - 2) / 10
        return low_z + (day_z - low_z) * t, low_h + (day_h - low_h) * t
    t = float(np.clip((sun_el + 8) / 10, 0, 1))
    return dusk_z + (low_z - dusk_z) * t, dusk_h + (low_h - dusk_h) * t


@functools.lru_cache(maxsize=8)
def _sky_rays(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Elevation [R, C] and azimuth offset [1, C] (degrees) of the coarse sky grid: the sky is
    computed at half resolution (R = size / 4 rows, C = size / 2 columns) and upsampled."""
    rows, cols = max(2, size // 4), max(2, size // 2)
    f = size / 2.0
    xc = ((np.arange(cols, dtype=np.float32) + 0.5) * (size / cols) - size / 2.0) / f
    yc = ((np.arange(rows, dtype=np.float32) + 0.5) * (size / 2.0 / rows) - size / 2.0) / f
    el = np.degrees(np.arctan2(-yc[:, None], np.sqrt(1 + xc[None, :] ** 2))).astype(np.float32)
    az_off = np.degrees(np.arctan(xc))[None, :].astype(np.float32)
    return el, az_off


def _render_sky(scene: Scene, heading: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The upper half of a view: uint8 [size / 2, size, 3], and the horizon colour [3]."""
    half = size // 2
    sky = scene.sky
    zen, hor = _sky_colours(sky["sun_el"], sky["on"])
    cover = sky["cover"]
    grey = np.array([170, 172, 178], np.float32)
    zen = zen * (1 - 0.6 * cover) + grey * 0.6 * cover
    hor = hor * (1 - 0.5 * cover) + grey * 0.5 * cover
    el, az_off = _sky_rays(size)
    az = heading + az_off
    t = np.clip(el / 50.0, 0, 1) ** 0.7
    img = hor[None, None, :] * (1 - t[..., None]) + zen[None, None, :] * t[..., None]
    if sky["on"]:
        sel, saz = math.radians(sky["sun_el"]), sky["sun_az"]
        elr = np.radians(el)
        cosd = np.sin(elr) * math.sin(sel) + np.cos(elr) * math.cos(sel) * np.cos(np.radians(az - saz))
        glow = np.exp((cosd - 1.0) * 18.0) * (0.55 if sky["sun_el"] > -2 else 0.2) * (1 - 0.7 * cover)
        warm = (
            np.array([255, 230, 190], np.float32)
            if sky["sun_el"] > 10
            else np.array([255, 170, 90], np.float32)
        )
        img = img + (warm[None, None, :] - img) * glow[..., None]
        if sky["sun_el"] > -1 and cover < 0.8:
            disc = cosd > math.cos(math.radians(2.6))
            img[disc] = np.array([255, 250, 235], np.float32)
        clouds = sky["clouds"]
        if len(clouds):
            dens = np.zeros(el.shape, np.float32)
            for caz, cel, wa, we in clouds:
                daz = (az - caz + 180.0) % 360.0 - 180.0
                q = (daz / wa) ** 2 + ((el - cel) / we) ** 2
                lump = 1.0 + 0.25 * np.sin(daz * 0.35 + cel)
                dens = np.maximum(dens, np.clip((1.0 - q) * 1.6 * lump, 0, 1))
            shade = 255.0 - 70.0 * cover
            ccol = np.array([shade, shade, shade + 4], np.float32) * (0.55 + 0.45 * scene.light)
            img = img + (ccol[None, None, :] - img) * (dens[..., None] * 0.92)
    # Distant hills: angular height (degrees) as a function of absolute azimuth.
    hills = scene.hills
    if hills[:, 0].sum() > 0.3:
        azr = np.radians(az[0])
        hh = np.zeros_like(azr)
        for amp, freq, ph in hills:
            hh += amp * (0.5 + 0.5 * np.sin(freq * azr + ph))
        hill_col = np.array([95, 110, 120], np.float32) * 0.6 + hor * 0.4
        mask = el < hh[None, :]
        img[mask] = hill_col
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(small.resize((size, half), Image.BILINEAR)), hor


def _soft_line(d: np.ndarray, half_width: float, pix: np.ndarray) -> np.ndarray:
    """Coverage 0..1 of a line of ``half_width`` m at lateral distance ``d`` m for a pixel
    footprint ``pix`` m (a box filter)."""
    return np.clip((half_width - np.abs(d)) / pix + 0.5, 0.0, 1.0)


def _dashes(u: np.ndarray, period: float, duty: float, foot_u: np.ndarray) -> np.ndarray:
    frac = (u / period) % 1.0
    hard = (frac < duty).astype(np.float32)
    return np.where(foot_u > period * 0.5, duty, hard)


@functools.lru_cache(maxsize=8)
def _ground_rays(size: int) -> tuple[np.ndarray, ...]:
    """Per-pixel ground geometry of the lower half, independent of heading: forward distance
    ``t`` [R, 1] (m), lateral offset ``lat`` [R, S] (m), lateral and along-view pixel
    footprints [R, 1] (m), and the texture fade [R, 1]."""
    xs, ys, f = _pixel_rays(size)
    half = size // 2
    t = (CAMERA_HEIGHT_M / np.maximum(ys[half:], 1e-4))[:, None].astype(np.float32)
    lat = (t * xs[None, :]).astype(np.float32)
    pix = t / f
    foot_u = t * t / (CAMERA_HEIGHT_M * f)
    fade = np.clip(1.0 - t / 35.0, 0.0, 1.0)
    for arr in (t, lat, pix, foot_u, fade):
        arr.setflags(write=False)
    return t, lat, pix, foot_u, fade


def _blend(base: np.ndarray, colour: np.ndarray, cov: np.ndarray) -> None:
    """In place: ``base += (colour - base) * cov`` on the pixels with coverage only."""
    idx = np.nonzero(cov > 0.0)
    if idx[0].size:
        c = cov[idx][:, None]
        base[idx] += (colour - base[idx]) * c


def _render_ground(scene: Scene, heading: float, size: int, horizon: np.ndarray) -> np.ndarray:
    """The lower half of a view: uint8 [size - size / 2, size, 3]."""
    t, lat, pix, foot_u, fade = _ground_rays(size)
    a = math.radians(heading - scene.road_bearing)
    ca, sa = np.float32(math.cos(a)), np.float32(math.sin(a))
    u = t * ca - lat * sa
    v = (t * sa + lat * ca) + np.float32(scene.camera_v)
    av = np.abs(v)
    kerb_v = scene.road_width / 2
    # Cheap hashed texture on a 0.5 m lattice, faded with distance.
    cell = np.floor(u * 2.0) * np.float32(12.9898) + np.floor(v * 2.0) * np.float32(78.233)
    noise = (np.sin(cell) * np.float32(43758.5453)) % 1.0 - 0.5
    grain = noise * fade  # [-0.5, 0.5]
    road = av < kerb_v
    surf = np.asarray(scene.asphalt if scene.surface == "asphalt" else (150, 122, 88), np.float32)
    ground = np.asarray(scene.ground, np.float32)
    if scene.sidewalk:
        walk = av < kerb_v + 2.4
        base = np.where(road[..., None], surf, np.where(walk[..., None], np.float32((172, 168, 160)), ground))
        amp = np.where(
            road, np.float32(0.1), np.where(walk, np.float32(0.04), np.float32(scene.ground_noise * 4))
        )
    else:
        base = np.where(road[..., None], surf, ground)
        amp = np.where(road, np.float32(0.1), np.float32(scene.ground_noise * 4))
    base *= (1.0 + grain * amp)[..., None]
    if scene.kerb != "none":
        c1, c2 = (np.asarray(c, np.float32) for c in KERB_COLOURS.get(scene.kerb, KERB_COLOURS["plain"]))
        band = _soft_line(av - (kerb_v + 0.12), 0.12, pix)
        if scene.kerb == "plain":
            _blend(base, c1, band)
        else:
            stripe = (u % 2.0) < 1.0
            far = np.broadcast_to(foot_u > 1.0, band.shape)
            _blend(base, c1, band * (stripe & ~far))
            _blend(base, c2, band * (~stripe & ~far))
            _blend(base, (c1 + c2) / 2, band * far)
    if scene.edge_line:
        _blend(base, np.float32((232, 232, 228)), _soft_line(av - (kerb_v - 0.35), 0.07, pix))
    pat = scene.lane_pattern
    cov = None
    if pat == "dashed":
        cov = _soft_line(v, 0.07, pix) * _dashes(u, 10.0, 0.35, foot_u)
    elif pat == "long_dash":
        cov = _soft_line(v, 0.07, pix) * _dashes(u, 16.0, 0.65, foot_u)
    elif pat == "solid":
        cov = _soft_line(v, 0.07, pix)
    elif pat == "double":
        cov = np.maximum(_soft_line(v - 0.17, 0.06, pix), _soft_line(v + 0.17, 0.06, pix))
    elif pat == "solid_dashed":
        cov = np.maximum(
            _soft_line(v - 0.15, 0.06, pix), _soft_line(v + 0.15, 0.06, pix) * _dashes(u, 10.0, 0.4, foot_u)
        )
    if cov is not None:
        _blend(base, np.asarray(scene.lane_colour, np.float32), cov)
    fog = scene.nuisance["fog"] if scene.nuisance["on"] else 0.0
    haze = 1.0 - np.exp(-t / np.float32(450.0 * (1.0 - fog) + 25.0))  # [R, 1]
    hcol = (horizon * (0.7 + 0.3 * scene.light)).astype(np.float32)
    out = base * (scene.light * (1.0 - haze))[..., None] + haze[..., None] * hcol
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ objects


class _View:
    """Projection of road-frame points (u, v, z) in metres into one view's pixels."""

    def __init__(self, scene: Scene, heading: float, size: int):
        a = math.radians(heading - scene.road_bearing)
        self.ca, self.sa = math.cos(a), math.sin(a)
        self.cv = scene.camera_v
        self.size = size
        self.f = size / 2.0
        self.c = size / 2.0

    def cam(self, u, v):
        du, dv = np.asarray(u, np.float64), np.asarray(v, np.float64) - self.cv
        return du * self.ca + dv * self.sa, -du * self.sa + dv * self.ca

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised projection of points [..., 3] (u, v, z): pixel ``x, y`` and forward depth."""
        du = pts[..., 0]
        dv = pts[..., 1] - self.cv
        fw = du * self.ca + dv * self.sa
        lt = -du * self.sa + dv * self.ca
        inv = self.f / np.maximum(fw, 1e-6)
        return self.c + lt * inv, self.c - (pts[..., 2] - CAMERA_HEIGHT_M) * inv, fw

    def poly(self, pts) -> list[tuple[float, float]] | None:
        """Project a planar polygon [(u, v, z), ...], clipped at the near plane; None when
        nothing is in front."""
        ca, sa, cv = self.ca, self.sa, self.cv
        cam = [(u * ca + (v - cv) * sa, -u * sa + (v - cv) * ca, z) for u, v, z in pts]
        if all(p[0] >= NEAR_M for p in cam):
            clipped = cam
        else:
            clipped = []
            n = len(cam)
            for i in range(n):
                p, q = cam[i], cam[(i + 1) % n]
                pin, qin = p[0] >= NEAR_M, q[0] >= NEAR_M
                if pin:
                    clipped.append(p)
                if pin != qin:
                    t = (NEAR_M - p[0]) / (q[0] - p[0])
                    clipped.append((NEAR_M, p[1] + t * (q[1] - p[1]), p[2] + t * (q[2] - p[2])))
            if len(clipped) < 3:
                return None
        h, c, f = CAMERA_HEIGHT_M, self.c, self.f
        return [(c + f * lt / fw, c - f * (z - h) / fw) for fw, lt, z in clipped]


def _lit(c, light: float) -> tuple[int, int, int]:
    return (int(c[0] * light), int(c[1] * light), int(c[2] * light))


ROOF_SHAPES = {
    # (u fraction, z above wall top in units of wall width) polylines in the facade plane.
    "gable": [(0.0, 0.0), (0.5, 0.32), (1.0, 0.0)],
    "hip": [(-0.03, 0.0), (0.22, 0.18), (0.78, 0.18), (1.03, 0.0)],
    "flat": [(0.0, 0.0), (0.0, 0.04), (1.0, 0.04), (1.0, 0.0)],
    "parapet": [
        (0.0, 0.0),
        (0.0, 0.09),
        (0.1, 0.09),
        (0.1, 0.05),
        (0.9, 0.05),
        (0.9, 0.09),
        (1.0, 0.09),
        (1.0, 0.0),
    ],
    "pagoda": [
        (-0.12, 0.06),
        (0.0, 0.02),
        (0.12, 0.16),
        (0.88, 0.16),
        (1.0, 0.02),
        (1.12, 0.06),
        (1.0, 0.0),
        (0.0, 0.0),
    ],
    "shed": [(0.0, 0.0), (0.0, 0.22), (1.0, 0.06), (1.0, 0.0)],
    "dome": [
        (0.0, 0.0),
        (0.0, 0.04),
        *[(0.5 + 0.3 * math.cos(t), 0.04 + 0.3 * math.sin(t)) for t in np.linspace(math.pi, 0, 9)],
        (1.0, 0.04),
        (1.0, 0.0),
    ],
}


def building_geometry(b: Building) -> dict:
    """Road-frame polygons of a building: ``wall`` [4, 3], ``roof`` [k, 3] and ``windows``
    [m, 4, 3] (the middle ground-floor one is the door, index ``door``)."""
    width = b.u1 - b.u0
    wall = np.array([(b.u0, b.v, 0.0), (b.u1, b.v, 0.0), (b.u1, b.v, b.height), (b.u0, b.v, b.height)])
    shape = ROOF_SHAPES.get(b.roof, [])
    roof = np.array([(b.u0 + fu * width, b.v, b.height + fz * width) for fu, fz in shape]).reshape(-1, 3)
    du = width / b.window_cols
    uc = np.tile(b.u0 + (np.arange(b.window_cols) + 0.5) * du, b.floors)
    z_lo = np.repeat(1.7 + 3.0 * np.arange(b.floors), b.window_cols)
    z_hi = z_lo + 1.4
    hw = np.full(uc.shape, 0.55)
    door = b.window_cols // 2
    hw[door], z_lo[door], z_hi[door] = 0.6, 0.0, 2.3
    win = np.empty((uc.size, 4, 3))
    win[:, :, 1] = b.v
    win[:, 0, 0] = win[:, 3, 0] = uc - hw
    win[:, 1, 0] = win[:, 2, 0] = uc + hw
    win[:, 0, 2] = win[:, 1, 2] = z_lo
    win[:, 2, 2] = win[:, 3, 2] = z_hi
    return {"wall": wall, "roof": roof, "windows": win, "door": door}


def _draw_building(d: ImageDraw.ImageDraw, view: _View, b: Building, geo: dict, light: float) -> None:
    x, y, fw = view.project(geo["wall"])
    size = view.size
    if (fw < NEAR_M).all() or (x < 0).all() or (x >= size).all():
        return
    wall = view.poly(geo["wall"].tolist())
    if wall is None:
        return
    if len(geo["roof"]):
        roof = view.poly(geo["roof"].tolist())
        if roof is not None:
            d.polygon(roof, fill=_lit(b.roof_colour, light))
    d.polygon(wall, fill=_lit(b.wall, light))
    if b.mural is not None:
        _draw_mural(d, view, b, light)
        return
    if (y.max() - y.min()) < 7:
        return
    if b.shop is not None:
        _draw_shop_sign(d, view, b, geo, light)
    wx, wy, wf = view.project(geo["windows"])
    ok = (wf >= NEAR_M).all(axis=1) & (wx.max(axis=1) >= 0) & (wx.min(axis=1) < size)
    glass = _lit((55, 65, 80), light)
    trim = _lit(b.trim, light)
    big = (wy.max(axis=1) - wy.min(axis=1)) > 6
    door = geo["door"]
    for i in np.flatnonzero(ok):
        pts = list(zip(wx[i].tolist(), wy[i].tolist(), strict=True))
        if i == door:
            d.polygon(pts, fill=trim)
        else:
            d.polygon(pts, fill=glass, outline=trim if big[i] else None)


MURAL_CELLS = (8, 5)
"""Columns and rows of the quads that paint a town motif over a facade."""


def _mural_cells(b: Building) -> np.ndarray:
    """Road-frame corners [cols * rows, 4, 3] of a mural's cells, row-major from the bottom."""
    nu, nz = MURAL_CELLS
    uu = np.linspace(b.u0, b.u1, nu + 1)
    zz = np.linspace(0.0, b.height, nz + 1)
    cells = np.empty((nz, nu, 4, 3))
    cells[..., 1] = b.v
    cells[:, :, 0, 0] = cells[:, :, 3, 0] = uu[None, :-1]
    cells[:, :, 1, 0] = cells[:, :, 2, 0] = uu[None, 1:]
    cells[:, :, 0, 2] = cells[:, :, 1, 2] = zz[:-1, None]
    cells[:, :, 2, 2] = cells[:, :, 3, 2] = zz[1:, None]
    return cells.reshape(-1, 4, 3)


def _draw_mural(d: ImageDraw.ImageDraw, view: _View, b: Building, light: float) -> None:
    nu, nz = MURAL_CELLS
    tex = motif_texture(b.mural)
    ts = tex.shape[0]
    cells = _mural_cells(b)
    x, y, fw = view.project(cells)
    ok = (fw >= NEAR_M).all(axis=1) & (x.max(axis=1) >= 0) & (x.min(axis=1) < view.size)
    for i in np.flatnonzero(ok):
        row, col = divmod(int(i), nu)
        c = tex[int((nz - 1 - row + 0.5) / nz * ts), int((col + 0.5) / nu * ts)]
        d.polygon(list(zip(x[i].tolist(), y[i].tolist(), strict=True)), fill=_lit(c, light))


SHOP_Z = (3.05, 3.85)
"""Height range (m) of shop sign bands."""


def _shop_geometry(b: Building) -> tuple[float, float]:
    w = b.u1 - b.u0
    return b.u0 + 0.12 * w, b.u1 - 0.12 * w


def _draw_shop_sign(d: ImageDraw.ImageDraw, view: _View, b: Building, geo: dict, light: float) -> None:
    ua, ub = _shop_geometry(b)
    z0, z1 = SHOP_Z
    band = view.poly([(ua, b.v, z0), (ub, b.v, z0), (ub, b.v, z1), (ua, b.v, z1)])
    if band is None:
        return
    bg = b.shop["bg"]
    d.polygon(band, fill=_lit(bg, light))
    codes = b.shop["codes"]
    ys = [p[1] for p in band]
    if not codes or max(ys) - min(ys) < 3:
        return
    # Glyphs laid out in facade coordinates (metres), then projected point by point.
    width, height = ub - ua, z1 - z0
    strokes = layout_text(b.shop.get("script", "Latn"), codes, width, height)
    ink = (20, 20, 20) if sum(bg) > 380 else (240, 240, 240)
    ink = _lit(ink, light)
    pts = [np.array([(ua + px, b.v, z1 - py) for px, py in line]) for line in strokes]
    for line in pts:
        x, y, fw = view.project(line)
        if (fw < NEAR_M).any():
            continue
        d.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=ink, width=1)


def _rect(d, x0, y0, x1, y1, fill) -> None:
    if x1 - x0 < 1:
        x0, x1 = (x0 + x1) / 2 - 0.5, (x0 + x1) / 2 + 0.5
    if y1 - y0 < 1:
        y0 = y1 - 1
    d.rectangle((x0, y0, x1, y1), fill=fill)


def _draw_sprite(
    img: Image.Image,
    d: ImageDraw.ImageDraw,
    view: _View,
    s: Sprite,
    x: float,
    y: float,
    k: float,
    light: float,
) -> None:
    """Draw one sprite standing at screen ``(x, y)`` with ``k`` pixels per metre."""
    p = s.params
    if s.kind == "bollard":
        st = p["style"]
        w = 0.09 * k if st.bollard_shape != "cylinder" else 0.13 * k
        top = y - 1.0 * k
        _rect(d, x - w, top, x + w, y, _lit(st.bollard_body, light))
        if st.bollard_shape == "round":
            d.ellipse((x - w, top - w, x + w, top + w), fill=_lit(st.bollard_cap, light))
        elif st.bollard_shape == "slant":
            d.polygon(
                [(x - w, top), (x + w, top - 0.1 * k), (x + w, top + 0.12 * k), (x - w, top + 0.15 * k)],
                fill=_lit(st.bollard_cap, light),
            )
        else:
            _rect(d, x - w, top, x + w, top + 0.16 * k, _lit(st.bollard_cap, light))
        _rect(d, x - w, top + 0.2 * k, x + w, top + 0.36 * k, st.reflector)
    elif s.kind == "pole":
        st = p["style"]
        col = _lit(st.pole_material, light)
        w = 0.14 * k
        top = y - 9.0 * k
        _rect(d, x - w, top, x + w, y, col)
        if st.pole_top in ("cross1", "cross2"):
            _rect(d, x - 0.9 * k, top + 0.5 * k, x + 0.9 * k, top + 0.65 * k, col)
            if st.pole_top == "cross2":
                _rect(d, x - 0.7 * k, top + 1.2 * k, x + 0.7 * k, top + 1.33 * k, col)
        elif st.pole_top == "lamp":
            side = -1 if s.v > 0 else 1
            d.line([(x, top), (x + side * 1.5 * k, top - 0.3 * k)], fill=col, width=max(1, int(0.12 * k)))
            _rect(
                d,
                x + side * 1.5 * k - 0.3 * k,
                top - 0.35 * k,
                x + side * 1.5 * k + 0.3 * k,
                top - 0.15 * k,
                _lit((230, 230, 200), light),
            )
        elif st.pole_top == "t_top":
            _rect(d, x - 0.4 * k, top, x + 0.4 * k, top + 0.25 * k, col)
    elif s.kind == "sign":
        st = p["style"]
        facing = view.ca  # the panel faces traffic travelling along +u
        _rect(d, x - 0.04 * k, y - 2.1 * k, x + 0.04 * k, y, _lit((150, 150, 150), light))
        text = p.get("text", False)
        shape = "rect" if text else st.sign_shape
        pw, ph = (2.4, 1.1) if text else (1.5, 0.6) if shape == "wide" else (0.9, 0.75)
        hw = pw / 2 * k * max(abs(facing), 0.12)
        cx, cy = x, y - (2.1 + ph / 2) * k
        hh = ph / 2 * k
        if text:  # a second post for the wide panel
            _rect(
                d,
                x - hw * 0.8 - 0.04 * k,
                y - 2.1 * k,
                x - hw * 0.8 + 0.04 * k,
                y,
                _lit((150, 150, 150), light),
            )
        if facing < 0.15:  # seen from behind or edge-on: grey back
            _sign_shape(d, shape, cx, cy, hw, hh, _lit((130, 130, 135), light), None)
            return
        _sign_shape(d, shape, cx, cy, hw, hh, _lit(st.sign_bg, light), _lit(st.sign_border, light))
        codes = p.get("codes")
        if text and codes and hw > 2.5:
            n_lines = p["lines"] if hh > 3 else 1
            bw, bh = hw * 1.7, hh * 1.5
            ink = _lit(st.sign_ink, light)
            for li in range(n_lines):
                oy = cy - bh / 2 + li * bh / n_lines
                strokes = layout_text(p["script"], codes[li::n_lines] or codes, bw, bh / n_lines)
                for line in strokes:
                    d.line([(cx - bw / 2 + px, oy + py) for px, py in line], fill=ink, width=1)
    elif s.kind == "tree":
        _draw_tree(d, p, x, y, k, light)
    elif s.kind == "car":
        facing = p["dir"] * view.ca  # > 0: we see its back
        side_on = abs(facing) < 0.5
        w = (2.2 if side_on else 0.9) * k
        col = _lit(p["colour"], light)
        _rect(d, x - w, y - 0.95 * k, x + w, y - 0.25 * k, col)
        cw = w * (0.7 if not side_on else 0.55)
        d.polygon(
            [
                (x - cw, y - 0.95 * k),
                (x + cw, y - 0.95 * k),
                (x + cw * 0.85, y - 1.45 * k),
                (x - cw * 0.85, y - 1.45 * k),
            ],
            fill=_lit((60, 70, 85), light),
        )
        wh = 0.3 * k
        if side_on:
            for wx in (x - w * 0.65, x + w * 0.65):
                d.ellipse((wx - wh, y - 2 * wh, wx + wh, y), fill=(20, 20, 20))
        else:
            _rect(d, x - w * 0.95, y - 0.25 * k, x - w * 0.6, y, (20, 20, 20))
            _rect(d, x + w * 0.6, y - 0.25 * k, x + w * 0.95, y, (20, 20, 20))
            lamp = (220, 30, 30) if facing > 0 else (250, 245, 200)
            _rect(d, x - w * 0.95, y - 0.8 * k, x - w * 0.7, y - 0.62 * k, lamp)
            _rect(d, x + w * 0.7, y - 0.8 * k, x + w * 0.95, y - 0.62 * k, lamp)
    elif s.kind in ("billboard", "banner"):
        tex = motif_texture(p["motif"])
        if s.kind == "billboard":
            pw, ph, z0 = 5.5, 3.4, 1.4
            for lx in (x - 1.8 * k, x + 1.8 * k):
                _rect(d, lx - 0.08 * k, y - z0 * k, lx + 0.08 * k, y, _lit((90, 90, 95), light))
        else:
            pw, ph, z0 = 1.4, 2.8, 2.4
            _rect(d, x - 0.07 * k, y - (z0 + ph + 0.3) * k, x + 0.07 * k, y, _lit((110, 110, 115), light))
        x0, x1 = round(x - pw / 2 * k), round(x + pw / 2 * k)
        y1 = round(y - z0 * k)
        y0 = round(y - (z0 + ph) * k)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            patch = Image.fromarray(tex).resize((x1 - x0, y1 - y0), Image.NEAREST)
            if light < 0.99:
                patch = Image.fromarray((np.asarray(patch, np.float32) * light).astype(np.uint8))
            img.paste(patch, (x0, y0))
            d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=_lit((60, 60, 60), light))


def _sign_shape(d, shape, cx, cy, hw, hh, fill, outline) -> None:
    if shape == "diamond":
        pts = [(cx, cy - hh * 1.3), (cx + hw, cy), (cx, cy + hh * 1.3), (cx - hw, cy)]
        d.polygon(pts, fill=fill, outline=outline)
    elif shape == "circle":
        d.ellipse((cx - hw, cy - hh * 1.1, cx + hw, cy + hh * 1.1), fill=fill, outline=outline)
    elif shape == "triangle":
        d.polygon([(cx - hw, cy + hh), (cx + hw, cy + hh), (cx, cy - hh * 1.3)], fill=fill, outline=outline)
    else:
        d.rectangle((cx - hw, cy - hh, cx + hw, cy + hh), fill=fill, outline=outline)


def _draw_tree(d, p, x, y, k, light) -> None:
    kind, s = p["kind"], p["scale"]
    leaf = _lit(p["leaf"], light) if p["leaf"] is not None else None
    trunk = _lit((90, 65, 45), light)
    if kind == "palm":
        h = 8 * s * k
        d.line([(x, y), (x + 0.4 * k, y - h)], fill=trunk, width=max(1, int(0.3 * k)))
        tx, ty = x + 0.4 * k, y - h
        for ang in np.linspace(0.15, math.pi - 0.15, 6):
            d.line(
                [(tx, ty), (tx + math.cos(ang) * 2.6 * k, ty + (0.8 - math.sin(ang)) * 1.2 * k)],
                fill=leaf,
                width=max(1, int(0.35 * k)),
            )
    elif kind == "conifer" or kind == "cypress":
        h = (9 if kind == "conifer" else 8) * s * k
        w = (1.8 if kind == "conifer" else 0.7) * s * k
        _rect(d, x - 0.15 * k, y - 1.0 * k, x + 0.15 * k, y, trunk)
        d.polygon([(x - w, y - 0.8 * k), (x + w, y - 0.8 * k), (x, y - h)], fill=leaf)
    elif kind == "shrub" or kind == "cactus":
        if kind == "cactus":
            _rect(d, x - 0.2 * k, y - 2.2 * s * k, x + 0.2 * k, y, leaf)
            _rect(d, x - 0.7 * k, y - 1.6 * s * k, x - 0.5 * k, y - 0.9 * s * k, leaf)
        else:
            r = 0.9 * s * k
            d.ellipse((x - r * 1.3, y - r * 1.4, x + r * 1.3, y + r * 0.1), fill=leaf)
    elif kind == "acacia":
        h = 5.5 * s * k
        d.line([(x, y), (x, y - h)], fill=trunk, width=max(1, int(0.25 * k)))
        d.ellipse((x - 3.2 * s * k, y - h - 0.8 * k, x + 3.2 * s * k, y - h + 0.6 * k), fill=leaf)
    else:  # deciduous, broadleaf, olive
        h = (7 if kind != "olive" else 4.5) * s * k
        r = (2.6 if kind != "olive" else 2.0) * s * k
        _rect(d, x - 0.18 * k, y - h * 0.6, x + 0.18 * k, y, trunk)
        if leaf is None:  # bare winter tree
            for ang in (-0.6, -0.2, 0.25, 0.65):
                d.line(
                    [(x, y - h * 0.5), (x + math.sin(ang) * r, y - h * 0.5 - math.cos(ang) * r * 1.2)],
                    fill=trunk,
                    width=1,
                )
        else:
            d.ellipse((x - r, y - h - r * 0.4, x + r, y - h * 0.45), fill=leaf)


# --------------------------------------------------------------------------------- nuisance


def _apply_nuisance(img: Image.Image, scene: Scene, heading: float) -> np.ndarray:
    nz = scene.nuisance
    size = img.size[0]
    if not nz["on"]:
        return np.asarray(img)
    rng = np.random.default_rng(nz["seed"] + int(heading))
    d = ImageDraw.Draw(img)
    if nz["rain"]:
        for _ in range(size // 3):
            x0, y0 = rng.uniform(0, size), rng.uniform(0, size)
            d.line([(x0, y0), (x0 - size * 0.01, y0 + size * 0.06)], fill=(200, 205, 215), width=1)
    if nz["occluder"] == 1 and heading == 180.0:  # the camera car's own roof behind us
        d.rectangle((0, size * 0.9, size, size), fill=(30, 32, 36))
    if nz["blur"] > 0:
        img = img.filter(ImageFilter.GaussianBlur(nz["blur"] * size / 128.0))
    arr = np.asarray(img, np.float32)
    if nz["fog"] > 0:
        arr = arr * (1 - nz["fog"] * 0.7) + 200.0 * nz["fog"] * 0.7
    if nz["occluder"] == 0:  # a translucent smudge on the lens
        cx, cy, r = nz["occluder_pos"] * np.array([size, size, 0.12 * size]) + np.array([0, 0, 0.04 * size])
        yy, xx = np.ogrid[:size, :size]
        m = np.clip(1.0 - ((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r), 0, 1).astype(np.float32)[..., None]
        arr = arr * (1 - 0.6 * m) + 25.0 * 0.6 * m
    oy, ox = rng.integers(0, size, 2)
    grain = _noise_bank(size)[oy : oy + size, ox : ox + size]
    arr = arr * np.float32(nz["exposure"]) + (grain * np.float32(nz["noise"]))[..., None]
    return np.clip(arr, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """A fixed field of standard normal sensor noise [2 size, 2 size] (float32); each view
    takes a window at a random offset (cheaper than drawing fresh noise)."""
    bank = np.random.default_rng(size).standard_normal((2 * size, 2 * size), dtype=np.float32)
    bank.setflags(write=False)
    return bank


# ------------------------------------------------------------------------------------ public


def render_view(scene: Scene, heading: float, size: int = 128) -> np.ndarray:
    """One view of ``scene`` at compass ``heading`` (degrees): RGB uint8 array [size, size, 3]."""
    if scene.geometry is None:
        scene.geometry = [building_geometry(b) for b in scene.buildings]
    if not MIN_SIZE <= size <= MAX_SIZE or size % 2:
        raise ValueError(f"size must be even and in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
    sky, horizon = _render_sky(scene, heading, size)
    ground = _render_ground(scene, heading, size, horizon)
    img = Image.fromarray(np.concatenate([sky, ground], axis=0))
    d = ImageDraw.Draw(img)
    view = _View(scene, heading, size)
    light = scene.light
    items: list[tuple[float, int, object]] = []
    for i, b in enumerate(scene.buildings):
        # Distance to the nearest point of the facade segment.
        uc = min(max(0.0, b.u0), b.u1)
        items.append((math.hypot(uc, b.v - scene.camera_v), i, b))
    sprites = scene.sprites
    if sprites:
        su = np.array([s.u for s in sprites])
        sv = np.array([s.v for s in sprites])
        fw, lt = view.cam(su, sv)
        keep = (fw > NEAR_M + 0.3) & (np.abs(lt) < fw * 1.15 + 6.0)
        dist = np.hypot(su, sv - scene.camera_v)
        for j in np.flatnonzero(keep):
            items.append((float(dist[j]), len(scene.buildings) + int(j), sprites[j]))
    items.sort(key=lambda it: -it[0])
    c, f = view.c, view.f
    if sprites:
        xs = c + f * lt / np.maximum(fw, 1e-6)
        ys = c + f * CAMERA_HEIGHT_M / np.maximum(fw, 1e-6)
        ks = f / np.maximum(fw, 1e-6)
    nb = len(scene.buildings)
    geos = scene.geometry
    for _, idx, obj in items:
        if isinstance(obj, Building):
            _draw_building(d, view, obj, geos[idx], light)
        else:
            j = idx - nb
            _draw_sprite(img, d, view, obj, float(xs[j]), float(ys[j]), float(ks[j]), light)
    return _apply_nuisance(img, scene, heading)


def render_views(scene: Scene, size: int = 128, headings=HEADINGS) -> list[Image.Image]:
    """The scene's views at ``headings`` (degrees): PIL RGB images ``size`` x ``size``."""
    return [Image.fromarray(render_view(scene, h, size)) for h in headings]


SPRITE_EXTENT_M = {
    "billboard": (2.9, 5.0),
    "banner": (0.8, 5.7),
    "sign": (2.6, 3.4),
    "bollard": (0.25, 1.3),
    "pole": (2.0, 9.7),
    "car": (2.4, 1.7),
    "tree": (3.6, 11.5),
}
"""Half width and height (metres) that bound each sprite kind's drawing."""


def cue_boxes(scene: Scene, heading: float, size: int, family: str) -> list[tuple[int, int, int, int]]:
    """Pixel boxes ``(x0, y0, x1, y1)`` (inclusive) bounding what one cue family draws as
    objects in a view (its sprites; for ``signs`` also the shop sign bands on facades); boxes
    are clipped to the image. Used to check that a cue switch changes only its own pixels,
    and to highlight cues."""
    view = _View(scene, heading, size)
    out = []
    if family == "motif":
        for b in scene.buildings:
            if b.mural is None:
                continue
            x, y, fw = view.project(np.array([[(b.u0, b.v, 0.0), (b.u1, b.v, 0.0), (b.u1, b.v, b.height),
                                               (b.u0, b.v, b.height)]]))
            if (fw < NEAR_M).any():
                # Partly behind the camera: bound the clipped polygon instead.
                poly = view.poly([(b.u0, b.v, 0.0), (b.u1, b.v, 0.0), (b.u1, b.v, b.height), (b.u0, b.v, b.height)])
                if poly is None:
                    continue
                xs_, ys_ = [p[0] for p in poly], [p[1] for p in poly]
            else:
                xs_, ys_ = x.ravel().tolist(), y.ravel().tolist()
            x0, x1 = math.floor(min(xs_)) - 2, math.ceil(max(xs_)) + 2
            y0, y1 = math.floor(min(ys_)) - 2, math.ceil(max(ys_)) + 2
            if x1 < 0 or x0 >= size or y1 < 0 or y0 >= size:
                continue
            out.append((max(0, x0), max(0, y0), min(size - 1, x1), min(size - 1, y1)))
    if family == "signs":
        for b in scene.buildings:
            if b.shop is None:
                continue
            ua, ub = _shop_geometry(b)
            band = view.poly(
                [(ua, b.v, SHOP_Z[0]), (ub, b.v, SHOP_Z[0]), (ub, b.v, SHOP_Z[1]), (ua, b.v, SHOP_Z[1])]
            )
            if band is None:
                continue
            xs_, ys_ = [p[0] for p in band], [p[1] for p in band]
            x0, x1 = math.floor(min(xs_)) - 2, math.ceil(max(xs_)) + 2
            y0, y1 = math.floor(min(ys_)) - 2, math.ceil(max(ys_)) + 2
            if x1 < 0 or x0 >= size or y1 < 0 or y0 >= size:
                continue
            out.append((max(0, x0), max(0, y0), min(size - 1, x1), min(size - 1, y1)))
    for s in scene.sprites:
        if s.family != family:
            continue
        fw, lt = view.cam(s.u, s.v)
        fw, lt = float(fw), float(lt)
        if fw <= NEAR_M + 0.3 or abs(lt) >= fw * 1.15 + 6.0:
            continue
        k = view.f / fw
        x = view.c + lt * k
        y = view.c + CAMERA_HEIGHT_M * k
        hw, h = SPRITE_EXTENT_M[s.kind]
        x0, x1 = math.floor(x - hw * k) - 1, math.ceil(x + hw * k) + 1
        y0, y1 = math.floor(y - h * k) - 1, math.ceil(y) + 1
        if x1 < 0 or x0 >= size or y1 < 0 or y0 >= size:
            continue
        out.append((max(0, x0), max(0, y0), min(size - 1, x1), min(size - 1, y1)))
    return out
