"""PIGEON training: presets, caption pretraining, geocell fine-tuning, embedding, the end-to-end pipeline.

Public API: :func:`get_preset` / :class:`TrainPreset` (``presets``), :func:`train_bundle` and
:func:`train_preset` (``pipeline``), :func:`embed_manifest` (``embed``). See docs/training.md.
"""

from __future__ import annotations

from typing import Any

from geoloc.train.presets import PRESET_NAMES, TrainPreset, get_preset

__all__ = ["PRESET_NAMES", "TrainPreset", "embed_manifest", "get_preset", "train_bundle", "train_preset"]


def __getattr__(name: str) -> Any:
    if name in ("train_bundle", "train_preset"):
        from geoloc.train import pipeline

        return getattr(pipeline, name)
    if name == "embed_manifest":
        from geoloc.train.embed import embed_manifest

        return embed_manifest
    raise AttributeError(name)
