"""Rendering: sizes and views, determinism, cue switches change only their own pixels."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import GeolocError
from geoloc.synth.generate import generate_scene
from geoloc.synth.render import HEADINGS, cue_boxes, render_view
from geoloc.synth.scene import CUE_FAMILIES, build_scene, normalise_cues


def _arr(ims):
    return [np.asarray(i) for i in ims]


@pytest.mark.parametrize("size", [32, 64, 128, 256, 512])
def test_sizes(locs, size):
    ims = generate_scene(locs.iloc[0].to_dict(), size=size, views=4)
    assert len(ims) == 4 and all(i.size == (size, size) and i.mode == "RGB" for i in ims)


def test_views_and_headings(locs):
    row = locs.iloc[1].to_dict()
    four = _arr(generate_scene(row, size=64, views=4))
    one = _arr(generate_scene(row, size=64, views=1))
    assert len(one) == 1 and np.array_equal(one[0], four[0])
    custom = _arr(generate_scene(row, size=64, views=[180.0, 90.0]))
    assert np.array_equal(custom[0], four[2]) and np.array_equal(custom[1], four[1])
    # The four views are different pictures of one scene.
    assert all(not np.array_equal(four[i], four[j]) for i in range(4) for j in range(i + 1, 4))
    with pytest.raises(GeolocError):
        generate_scene(row, size=63)
    with pytest.raises(GeolocError):
        generate_scene(row, size=64, views=5)


def test_deterministic(locs):
    for i in range(3):
        row = locs.iloc[i].to_dict()
        a, b = _arr(generate_scene(row, size=96)), _arr(generate_scene(row, size=96))
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other = _arr(generate_scene(locs.iloc[0].to_dict(), size=96, seed=12345))
    assert not np.array_equal(other[0], _arr(generate_scene(locs.iloc[0].to_dict(), size=96))[0])


def test_not_noise(locs):
    # Sky above the horizon is brighter/bluer than the ground, and images are smooth-ish
    # (neighbouring pixels correlate strongly), i.e. a scene, not noise.
    for i in range(6):
        im = np.asarray(generate_scene(locs.iloc[i].to_dict(), size=128, cues="-nuisance")[0], np.float32)
        top, bottom = im[:20].mean(), im[-20:].mean()
        assert top > bottom - 10
        dx = np.abs(np.diff(im, axis=1)).mean()
        assert dx < 25


def test_normalise_cues():
    assert normalise_cues(None) == frozenset(CUE_FAMILIES)
    assert normalise_cues("-motif,-road") == frozenset(CUE_FAMILIES) - {"motif", "road"}
    assert normalise_cues(["sky", "road"]) == {"sky", "road"}
    with pytest.raises(GeolocError, match="unknown cue"):
        normalise_cues("sky,colour")


def _diff_outside_boxes(a, b, boxes) -> int:
    diff = np.any(a != b, axis=-1)
    for x0, y0, x1, y1 in boxes:
        diff[y0 : y1 + 1, x0 : x1 + 1] = False
    return int(diff.sum())


@pytest.mark.parametrize(("family", "sprite_family"), [("motif", "motif"), ("signs", "signs")])
def test_cue_switch_changes_only_its_pixels(locs, family, sprite_family):
    base = frozenset(CUE_FAMILIES) - {"nuisance"}  # blur and noise would spread changes
    changed_somewhere = False
    for i in range(len(locs)):
        row = locs.iloc[i].to_dict()
        on = build_scene(row, base)
        off = build_scene(row, base - {family})
        for h in HEADINGS:
            a, b = render_view(on, h, 96), render_view(off, h, 96)
            boxes = cue_boxes(on, h, 96, sprite_family)
            assert _diff_outside_boxes(a, b, boxes) == 0
            changed_somewhere |= not np.array_equal(a, b)
        if changed_somewhere and i > 8:
            break
    assert changed_somewhere


def test_switching_a_family_keeps_other_families_draws(locs):
    row = locs.iloc[2].to_dict()
    full = build_scene(row)
    no_road = build_scene(row, "-road")
    assert [(b.u0, b.v, b.height) for b in full.buildings] == [(b.u0, b.v, b.height) for b in no_road.buildings]
    trees = [(s.u, s.v) for s in full.sprites if s.kind == "tree"]
    assert trees == [(s.u, s.v) for s in no_road.sprites if s.kind == "tree"]
    assert not any(s.kind == "car" for s in no_road.sprites)
    assert no_road.camera_v == 0.0


def test_driving_side_sets_camera_lane_and_traffic(locs):
    row = locs.iloc[0].to_dict()
    right = build_scene({**row, "drives_left": False, "scene_seed": 7})
    left = build_scene({**row, "drives_left": True, "scene_seed": 7})
    assert right.camera_v > 0 > left.camera_v
    for sc in (right, left):
        for s in sc.sprites:
            if s.kind == "car":
                # Cars going our way share our lane; oncoming cars are in the other lane.
                assert (s.v * sc.camera_v > 0) == (s.params["dir"] > 0)
            if s.kind == "sign":
                assert s.v * sc.camera_v > 0


def test_road_markings_visible_left_of_centre_when_driving_right(locs):
    # Looking along the road from the right lane, the centre line is left of the image centre.
    row = {**locs.iloc[0].to_dict(), "road_bearing": 0.0, "adm0_a3": "USA", "style_region": "NorthAmerica-0"}
    for drives_left, expect_left in ((False, True), (True, False)):
        sc = build_scene({**row, "drives_left": drives_left}, "road,sky")
        sc.lane_pattern, sc.lane_colour, sc.sprites, sc.buildings = "solid", (255, 0, 255), [], []
        im = render_view(sc, 0.0, 128).astype(int)
        magenta = (im[..., 0] > 180) & (im[..., 1] < 80) & (im[..., 2] > 180)
        cols = np.flatnonzero(magenta[100:].any(axis=0))
        assert cols.size
        assert (cols.mean() < 64) == expect_left
