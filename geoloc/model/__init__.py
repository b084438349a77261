"""PIGEON model: open_clip vision towers, multi-view fusion, geocell + auxiliary heads, losses."""

from __future__ import annotations

from geoloc.model.fusion import FUSIONS, build_fusion
from geoloc.model.geo_model import GeoModel, GeoModelConfig
from geoloc.model.heads import GEOCELL, ClassificationHeads
from geoloc.model.losses import geocell_loss, haversine_smoothed_targets, multitask_loss
from geoloc.model.tower import (
    VisionTower,
    build_clip,
    build_vision_tower,
    load_state_dict_file,
    register_model_configs,
)

__all__ = [
    "FUSIONS",
    "GEOCELL",
    "ClassificationHeads",
    "GeoModel",
    "GeoModelConfig",
    "VisionTower",
    "build_clip",
    "build_fusion",
    "build_vision_tower",
    "geocell_loss",
    "haversine_smoothed_targets",
    "load_state_dict_file",
    "multitask_loss",
    "register_model_configs",
]
