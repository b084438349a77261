"""Zero-shot geolocation with CLIP text prompts (no training): see ``docs/zeroshot.md``.

``ZeroShotGeolocator.from_clip(name, pretrained=... | checkpoint=..., cells=...)`` scores every
geocell with prompt ensembles (cell, admin-1, country) fused with a geographic prior
(:mod:`geoloc.zeroshot.fusion`, :mod:`geoloc.zeroshot.prior`) and returns the same
:class:`geoloc.predict.Prediction` objects as :class:`geoloc.predict.Geolocator` (plus
``countries_text`` from country prompts).
"""

from geoloc.zeroshot.fusion import Fusion
from geoloc.zeroshot.predictor import Clip, ZeroShotGeolocator, ZeroShotPrediction, load_clip, load_geocells
from geoloc.zeroshot.prompts import (
    ADMIN1_TEMPLATES,
    CELL_TEMPLATES,
    COUNTRY_TEMPLATES,
    admin1_prompts,
    cell_prompts,
    country_prompts,
)

__all__ = ["ADMIN1_TEMPLATES", "CELL_TEMPLATES", "COUNTRY_TEMPLATES", "Clip", "Fusion", "ZeroShotGeolocator",
           "ZeroShotPrediction", "admin1_prompts", "cell_prompts", "country_prompts", "load_clip", "load_geocells"]
