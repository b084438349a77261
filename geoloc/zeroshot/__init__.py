"""Zero-shot geolocation with CLIP text prompts (no training): see ``docs/zeroshot.md``.

``ZeroShotGeolocator.from_clip(name, pretrained=... | checkpoint=..., cells=...)`` scores every
geocell with a prompt ensemble and returns the same :class:`geoloc.predict.Prediction` objects as
:class:`geoloc.predict.Geolocator` (plus ``countries_text`` from country prompts).
"""

from geoloc.zeroshot.predictor import Clip, ZeroShotGeolocator, ZeroShotPrediction, load_clip, load_geocells
from geoloc.zeroshot.prompts import CELL_TEMPLATES, COUNTRY_TEMPLATES, cell_prompts, country_prompts

__all__ = ["CELL_TEMPLATES", "COUNTRY_TEMPLATES", "Clip", "ZeroShotGeolocator", "ZeroShotPrediction",
           "cell_prompts", "country_prompts", "load_clip", "load_geocells"]
