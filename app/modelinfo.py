"""Which model the app serves, and its model card.

The bundle folder comes from (first match): the ``--model`` argument of the script, ``$GEOLOC_MODEL``,
then :func:`geoloc.default_model.default_model_path` (the embedded ``synthworld-tiny``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNTHWORLD_NOTE = ("This model was trained on SynthWorld scenes (procedurally rendered streets), not on "
                   "photographs. Its guesses on real photos are not meaningful: real photos need a model "
                   "trained on real photos (see `geoloc train`).")


def model_arg(argv: Sequence[str]) -> str | None:
    """The ``--model PATH`` given to the script after ``streamlit run app/streamlit_app.py --`` (or None)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", default=None)
    known, _ = parser.parse_known_args(list(argv))
    return known.model or None


def resolve_model_path(explicit: str | None = None, *, build: bool = True) -> Path:
    """``explicit``, else ``$GEOLOC_MODEL``, else the default bundle (trained on first use when ``build``):
    :func:`geoloc.default_model.resolve_model_path`, the resolver every front end shares."""
    from geoloc.default_model import resolve_model_path as resolve

    return resolve(explicit, build=build)


def is_default_model(path: str | os.PathLike) -> bool:
    """True when ``path`` is the embedded default bundle (shipped or cached ``synthworld-tiny``)."""
    from geoloc.default_model import DEFAULT_MODEL_NAME, SHIPPED_DIR, cache_dir

    p = Path(path).resolve()
    return p in {SHIPPED_DIR.resolve(), (cache_dir() / "models" / DEFAULT_MODEL_NAME).resolve()}


@dataclass
class ModelCard:
    """What the model card panel shows."""

    path: str
    title: str
    data: str
    training_command: str
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_command: str = ""
    tower: str = ""
    image_size: int = 0
    views: int = 1
    num_cells: int = 0
    refinement: bool = False
    content_hash: str = ""
    synthworld: bool = False
    note: str = ""


def model_card(geolocator, path: str | os.PathLike) -> ModelCard:
    """The card of a loaded :class:`geoloc.predict.Geolocator`; ``synthworld`` (with ``note``) when it is
    the default model or its card says it was trained on SynthWorld."""
    cfg = geolocator.config
    card = dict(cfg.get("card") or {})
    data = str(card.get("data", ""))
    synth = is_default_model(path) or "synthworld" in (data + str(card.get("title", ""))).lower()
    return ModelCard(
        path=str(path), title=str(card.get("title") or Path(path).name), data=data,
        training_command=str(card.get("training_command", "")), metrics=dict(card.get("metrics") or {}),
        metrics_command=str(card.get("metrics_command", "")),
        tower=str((cfg.get("backbone") or {}).get("tower", cfg.get("model", {}).get("tower", ""))),
        image_size=int(cfg.get("image_size", 0)), views=int(cfg.get("views", 1)),
        num_cells=len(geolocator.bundle.geocells), refinement=geolocator.refiner is not None,
        content_hash=str(getattr(geolocator.bundle, "content_hash", "")), synthworld=synth,
        note=SYNTHWORLD_NOTE if synth else "")


__all__ = ["SYNTHWORLD_NOTE", "ModelCard", "is_default_model", "model_arg", "model_card", "resolve_model_path"]
