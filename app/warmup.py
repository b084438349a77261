"""The model, loaded once per server process, and the warm-up started with the server.

* :func:`shared_geolocator` ``(source)``: the predictor of a model source (a bundle folder, or any spec of
  :mod:`geoloc.sources`: ``hf-hub:`` bundle, ``zero-shot:`` CLIP), loaded at most once per process and
  shared by every browser session (thread-safe: a second caller waits for the first load instead of
  loading again).
* :func:`warm_up` ``(path)``: load it and send one small in-memory JPEG through the page's own pipeline
  (decode, EXIF, predict, tables, map JSON), so that everything built lazily on first use (the
  gazetteer's KD-tree, admin-1 names, torch's first-call kernels, the decoders) is ready before the
  first upload. Returns the seconds it took.
* :func:`start_warm_up` ``(path, threads)``: in a daemon thread, set torch's threads
  (:func:`geoloc.threads.inference_threads`), then :func:`warm_up`; ``python -m app.launch`` starts it
  together with the Streamlit server, so the model loads while the server starts and the browser
  connects rather than after the first page asks for it.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("geoloc.app")
_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def _key(source: str | os.PathLike) -> str:
    """One key per model: a bundle folder's resolved path, else the source's spec."""
    from geoloc.sources import ModelSource

    src = ModelSource.parse(str(source))
    return str(Path(src.name).resolve()) if src.kind == "bundle" else src.spec


def is_loaded(source: str | os.PathLike) -> bool:
    """True when :func:`shared_geolocator` has the model of ``source`` loaded in this process."""
    return _key(source) in _MODELS


def shared_geolocator(source: str | os.PathLike):
    """The predictor of ``source`` (a bundle folder or a spec), loaded once per process (see the module
    docstring). Raises :class:`geoloc.errors.GeolocError` for a broken bundle or unavailable weights
    (nothing is cached then)."""
    key = _key(source)
    with _LOCK:
        geo = _MODELS.get(key)
        if geo is None:
            from geoloc.sources import load_predictor

            geo = _MODELS[key] = load_predictor(key, progress=False)
    return geo


def warm_up(path: str | os.PathLike) -> float:
    """Load the model and run one small upload through the page's pipeline; returns seconds."""
    from PIL import Image

    from app import mapview, results, uploads

    t0 = time.perf_counter()
    geo = shared_geolocator(path)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 140, 160)).save(buf, format="JPEG")
    res = uploads.locate_uploads(geo, [uploads.Upload("warm-up.jpg", buf.getvalue())])
    if res and res[0].ok:
        mapview.build_deck(res[0].prediction, geocells=geo.geocells).to_json()
        results.top_k_table(res[0].prediction)
        results.country_table(res[0].prediction)
        results.batch_table(res)
    return time.perf_counter() - t0


def _warm_up_quietly(path: str | os.PathLike | None, threads: int | None) -> None:
    try:
        from geoloc.threads import inference_threads

        inference_threads(threads)
        if path is None:
            return
        seconds = warm_up(path)
    except Exception as exc:  # the page reports a broken bundle itself, as one line
        print(f"geoloc app: model warm-up failed ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return
    print(f"geoloc app: model ready ({seconds:.1f} s)", file=sys.stderr, flush=True)


def start_warm_up(path: str | os.PathLike | None, threads: int | None = None) -> threading.Thread:
    """In a daemon thread: torch's CPU threads (``threads``, default half the cores), then :func:`warm_up`
    when ``path`` is given. Errors are printed as one line, never raised."""
    thread = threading.Thread(target=_warm_up_quietly, args=(path, threads), name="geoloc-warm-up", daemon=True)
    thread.start()
    return thread


__all__ = ["is_loaded", "shared_geolocator", "start_warm_up", "warm_up"]
