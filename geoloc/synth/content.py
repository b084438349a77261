"""Content captions: what a SynthWorld scene shows, without saying where it is.

PIGEON starts from CLIP, a tower pretrained on web image-text pairs that knows what is in a
picture (cars, trees, buildings, weather, time of day) but was never taught where a street
is; its location-caption pretraining then adds *where*. SynthWorld has no web, so
:func:`content_caption` describes a scene's content from its built world (:mod:`geoloc.synth.scene`):
the time of day, the sky and weather, the road surface, the traffic, the buildings, the trees,
the road signs. Contrastive pretraining on these captions is the project's stand-in for CLIP's
generic pretraining (the ``generic`` tower of the ablation benchmark): no country, region,
town, climate or driving side is named, although, as in real photos, some content (palm trees,
snow, dense towns) correlates with place.
"""

from __future__ import annotations

from collections.abc import Mapping

from geoloc.synth.scene import build_scene

_COUNT_WORDS = ("no", "one", "two", "three", "four", "five")


def _amount(n: int, few: int, many: int) -> str:
    if n == 0:
        return "no"
    return "a few" if n <= few else ("some" if n < many else "many")


def _time_of_day(hour: float, sun_elevation: float) -> str:
    if sun_elevation < 6.0:
        return "at dusk" if hour >= 12.0 else "at dawn"
    if hour < 10.0:
        return "in the morning"
    if hour < 14.0:
        return "around midday"
    return "in the afternoon"


def content_caption(attrs: Mapping) -> str:
    """One sentence about the scene of ``attrs`` (a row of :func:`geoloc.synth.sample_locations`),
    deterministic, naming no place. Example: "A street view photo taken in the morning under an
    overcast sky, on a paved road with two cars, lined with many buildings, with a few trees and
    road signs."."""
    scene = build_scene(attrs)
    kinds = [s.kind for s in scene.sprites]
    cars, trees, signs = kinds.count("car"), kinds.count("tree"), kinds.count("sign")
    n_build = len(scene.buildings)
    when = _time_of_day(float(attrs.get("hour", 12.0)), float(scene.sky.get("sun_el", 30.0)))
    cover = float(scene.sky.get("cover", 0.0))
    sky = "a clear sky" if cover < 0.2 else ("a partly cloudy sky" if cover < 0.5 else "an overcast sky")
    weather = ""
    if scene.nuisance.get("fog", 0.0) > 0:
        weather = " in fog"
    elif scene.nuisance.get("rain"):
        weather = " in the rain"
    road = "a dirt road" if scene.surface == "dirt" else "a paved road"
    traffic = "no traffic" if cars == 0 else f"{_COUNT_WORDS[min(cars, 5)]} car{'s' if cars != 1 else ''}"
    buildings = ("no buildings" if n_build == 0 else f"{_amount(n_build, 3, 10)} buildings")
    parts = [f"A street view photo taken {when} under {sky}{weather}, on {road} with {traffic}",
             f"{buildings}", f"{_amount(trees, 5, 15)} trees"]
    text = ", ".join(parts)
    if signs:
        text += " and road signs"
    return text + "."


__all__ = ["content_caption"]
