"""Which model the app serves, and its model card.

The model comes from (first match): the ``--model`` argument of the script, ``$GEOLOC_MODEL``, then
:func:`geoloc.default_model.default_model_path` (the embedded ``synthworld-tiny``). It is any source of
:mod:`geoloc.sources`: a bundle folder, a published ``hf-hub:`` bundle, or ``zero-shot:`` CLIP; the sidebar
switches between them (:func:`spec_from_sidebar` builds the spec from its fields).
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


SOURCE_CHOICES = ("Default model", "Zero-shot CLIP", "Bundle folder or hf-hub name")
"""The sidebar's model sources, in order."""


def server_spec(explicit: str | None = None) -> str:
    """The spec a page loads without any check: ``explicit`` or ``$GEOLOC_MODEL`` as given for ``hf-hub:`` and
    ``zero-shot:`` sources (the shared loader downloads and checks them once), else the bundle folder
    (:func:`resolve_model_path`)."""
    from geoloc.sources import ModelSource

    text = (explicit or os.environ.get("GEOLOC_MODEL", "")).strip()
    src = ModelSource.parse(text) if text else ModelSource()
    if src.kind in ("hub", "zero-shot"):
        return src.spec
    return str(resolve_model_path(explicit))


def prepare_source(spec: str | None, *, build: bool = True) -> str:
    """The spec the app's server loads, checked before any server starts: a bundle source becomes its verified
    folder (an ``hf-hub:`` bundle is downloaded once into the Hugging Face cache); a zero-shot source keeps its
    spec once its CLIP weights, checkpoint, geocells and calibration file are known to be available. Offline
    and not cached: one-line :class:`geoloc.hub.OfflineError` within seconds."""
    from geoloc.bundle import verify_bundle
    from geoloc.hub import ensure_clip_weights
    from geoloc.sources import ModelSource, bundle_path, default_source

    src = ModelSource.parse(spec) if spec else default_source()
    if src.kind != "zero-shot":
        path = bundle_path(src, build=build).resolve()
        verify_bundle(path)
        return str(path)
    from geoloc.errors import InputFileError

    for what, file in (("--clip-checkpoint", src.checkpoint), ("--calibration", src.calibration)):
        if file and not Path(file).is_file():
            raise InputFileError(f"{what} {file} does not exist")
    if src.cells and not src.cells.startswith("hf-hub:") and not Path(src.cells).exists():
        raise InputFileError(f"--cells {src.cells}: neither a geocell file nor a model bundle folder")
    ensure_clip_weights(src.name, src.pretrained)
    return src.spec


def spec_from_sidebar(choice: str, *, bundle: str = "", arch: str = "", weights: str = "", cells: str = "",
                      calibration: str = "") -> str:
    """The spec of the sidebar's fields (:data:`SOURCE_CHOICES`); one-line GeolocError for a bad combination.
    ``weights``: an open_clip pretrained tag or a checkpoint file (empty: random weights)."""
    from geoloc.default_model import default_model_path
    from geoloc.errors import GeolocError
    from geoloc.sources import ZS_PREFIX, ModelSource

    if choice == SOURCE_CHOICES[0]:
        return str(default_model_path(build=False, use_env=False))
    if choice == SOURCE_CHOICES[2]:
        if not bundle.strip():
            raise GeolocError("type a bundle folder or hf-hub:ORG/NAME")
        return ModelSource.parse(bundle.strip()).spec  # a zero-shot: spec typed here works too
    if choice != SOURCE_CHOICES[1]:
        raise GeolocError(f"unknown model source {choice!r}")
    if not arch.strip():
        raise GeolocError("type a CLIP architecture, e.g. ViT-B-32 (open_clip) or hf-hub:ORG/REPO")
    w = weights.strip()
    src = ModelSource.parse(ZS_PREFIX + arch.strip() + (f"@{w}" if w else ""))
    return ModelSource(kind="zero-shot", name=src.name, pretrained=src.pretrained, checkpoint=src.checkpoint,
                       cells=cells.strip() or None, calibration=calibration.strip() or None).spec


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
    kind: str = "bundle"
    fusion: str = ""


def model_card(predictor, path: str | os.PathLike) -> ModelCard:
    """The card of a loaded predictor (:class:`geoloc.predict.Geolocator` or zero-shot); ``synthworld`` (with
    ``note``) when it is the default model or its card says it was trained on SynthWorld."""
    cfg = predictor.config
    card = dict(cfg.get("card") or {})
    data = str(card.get("data", ""))
    zero_shot = cfg.get("schema") == "geoloc-zeroshot/1"
    synth = not zero_shot and (is_default_model(path) or "synthworld" in (data + str(card.get("title", ""))).lower())
    bundle = getattr(predictor, "bundle", None)
    return ModelCard(
        path=str(path), title=str(card.get("title") or Path(path).name), data=data,
        training_command=str(card.get("training_command", "")), metrics=dict(card.get("metrics") or {}),
        metrics_command=str(card.get("metrics_command", "")),
        tower=str((cfg.get("backbone") or {}).get("tower", cfg.get("model", {}).get("tower", ""))),
        image_size=int(cfg.get("image_size", 0)), views=int(cfg.get("views", 1)),
        num_cells=len(predictor.geocells), refinement=predictor.refiner is not None,
        content_hash=str(getattr(bundle, "content_hash", "")), synthworld=synth,
        note=SYNTHWORLD_NOTE if synth else "", kind="zero-shot" if zero_shot else "bundle",
        fusion=str((cfg.get("fusion") or {}).get("note", "")))


__all__ = ["SOURCE_CHOICES", "SYNTHWORLD_NOTE", "ModelCard", "is_default_model", "model_arg", "model_card",
           "prepare_source", "resolve_model_path", "server_spec", "spec_from_sidebar"]
