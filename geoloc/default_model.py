"""Where the embedded default model (``synthworld-tiny``) lives, and building it on first use.

Every front end goes through :mod:`geoloc.sources` (``ModelSource``, ``load_predictor``), which also
handles zero-shot CLIP; this module only knows bundles.

Resolution order of :func:`default_model_path`:

1. ``$GEOLOC_MODEL`` (a bundle folder or a published ``hf-hub:ORG/NAME`` bundle), when set;
2. the bundle shipped in the repository, ``geoloc/models/synthworld-tiny/``;
3. the user cache, ``cache_dir()/models/synthworld-tiny``;
4. otherwise it is trained into the cache with the ``synthworld-tiny`` preset (progress bars),
   unless ``build=False`` (then :class:`BundleError`).
"""

from __future__ import annotations

import os
from pathlib import Path

from geoloc.errors import BundleError

DEFAULT_MODEL_NAME = "synthworld-tiny"
SHIPPED_DIR = Path(__file__).resolve().parent / "models" / DEFAULT_MODEL_NAME


def cache_dir() -> Path:
    """The project's one cache folder: ``$GEOLOC_CACHE``, else ``$XDG_CACHE_HOME/geoloc``, else
    ``~/.cache/geoloc`` (the XDG default). Nothing else under ``$HOME`` is ever written."""
    env = os.environ.get("GEOLOC_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geoloc"


def _is_bundle(path: Path) -> bool:
    return (path / "manifest.json").is_file()


def default_model_path(*, build: bool = True, progress: bool = True, use_env: bool = True) -> Path:
    """The folder of the default bundle (see the module docstring for the order; ``use_env=False``
    skips ``$GEOLOC_MODEL``)."""
    env = os.environ.get("GEOLOC_MODEL", "").strip() if use_env else ""
    if env:
        if env.startswith("hf-hub:"):
            from geoloc.sources import hub_bundle_path

            return hub_bundle_path(env)
        if env.startswith("zero-shot:"):
            raise BundleError(f"GEOLOC_MODEL={env} is a zero-shot CLIP, not a model bundle")
        if not _is_bundle(Path(env)):
            raise BundleError(f"GEOLOC_MODEL={env}: not a model bundle (no manifest.json)")
        return Path(env)
    if _is_bundle(SHIPPED_DIR):
        return SHIPPED_DIR
    cached = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if _is_bundle(cached):
        return cached
    if not build:
        raise BundleError(f"the default model is not built yet: run `geoloc train preset {DEFAULT_MODEL_NAME}` "
                          f"or pass --model")
    from geoloc.train.pipeline import train_preset

    train_preset(DEFAULT_MODEL_NAME, cached, progress=progress)
    return cached


def resolve_model_path(explicit: str | os.PathLike | None = None, *, build: bool = True,
                       progress: bool = True) -> Path:
    """The bundle folder a source names: ``explicit`` (``--model``: a folder or ``hf-hub:ORG/NAME[@REV]``,
    downloaded once into the Hugging Face cache) when given, else :func:`default_model_path`. A missing
    folder, or a zero-shot spec, is a one-line :class:`BundleError` (:func:`geoloc.sources.load_predictor`
    loads any source)."""
    from geoloc.sources import ModelSource, bundle_path

    if explicit:
        return bundle_path(ModelSource.parse(str(explicit)), build=build, progress=progress)
    return default_model_path(build=build, progress=progress)


__all__ = ["DEFAULT_MODEL_NAME", "SHIPPED_DIR", "cache_dir", "default_model_path", "resolve_model_path"]
