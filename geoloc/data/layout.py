"""How one input location is laid out, and cutting it into the model's views.

A location reaches a model as one of four layouts (``layout=``, the same in the Python API, the
CLI, the app and the bot):

* ``"views"``: a list of separate images of one place (PIGEON's four headings);
* ``"single"``: one ordinary photo, used as one view (never cut);
* ``"panorama"``: one equirectangular 360 degree panorama (aspect 2:1), re-projected into
  ``n_views`` perspective views at evenly spaced headings (:func:`geoloc.data.split_panorama`);
* ``"strip"``: ``n_views`` views stitched side by side in one image, cut apart.

``"auto"`` (the default) decides per item: a list is ``views``; an image whose aspect is
2:1 (1.9..2.1) and at least :data:`PANORAMA_MIN_WIDTH` px wide is a ``panorama``; an image whose
aspect is ``n_views``:1 (within 5 %, for ``n_views`` >= 3) is a ``strip``; anything else is
``single``. ``n_views`` defaults to the model's own view count (a bundle's ``views``).
"""

from __future__ import annotations

from typing import Any

from geoloc.errors import GeolocError

LAYOUTS = ("auto", "single", "panorama", "strip", "views")
PANORAMA_MIN_WIDTH = 1000
PANORAMA_ASPECT = (1.9, 2.1)
STRIP_TOLERANCE = 0.05


def is_equirect_panorama(width: int, height: int) -> bool:
    """True for a 2:1 image at least :data:`PANORAMA_MIN_WIDTH` px wide (an equirectangular panorama)."""
    return (height > 0 and width >= PANORAMA_MIN_WIDTH
            and PANORAMA_ASPECT[0] <= width / height <= PANORAMA_ASPECT[1])


def is_strip(width: int, height: int, n_views: int) -> bool:
    """True when the image is ``n_views`` (>= 3) square-ish views side by side (aspect ``n_views``:1 +- 5 %)."""
    return n_views >= 3 and height > 0 and abs(width / height / n_views - 1.0) <= STRIP_TOLERANCE


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise GeolocError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return layout


def infer_layout(item: Any, size: tuple[int, int] | None, n_views: int) -> str:
    """The ``auto`` decision for one item (``size`` = (width, height) of a decoded image)."""
    if isinstance(item, list | tuple):
        return "views"
    if size is None:
        return "single"
    w, h = size
    if is_equirect_panorama(w, h):
        return "panorama"
    if is_strip(w, h, n_views):
        return "strip"
    return "single"


def cut_views(img, layout: str, n_views: int) -> list:
    """One decoded RGB image -> its views under ``layout`` (``single``, ``panorama`` or ``strip``)."""
    from geoloc.data.panorama import split_panorama

    if layout == "single":
        return [img]
    if n_views < 1:
        raise GeolocError(f"n_views must be >= 1, got {n_views}")
    if layout == "panorama":
        return split_panorama(img, n_views)
    if layout == "strip":
        return split_panorama(img, n_views, kind="strip")
    raise GeolocError(f"an image cannot be cut with layout {layout!r}")


__all__ = ["LAYOUTS", "PANORAMA_ASPECT", "PANORAMA_MIN_WIDTH", "check_layout", "cut_views", "infer_layout",
           "is_equirect_panorama", "is_strip"]
