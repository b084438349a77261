"""JSON that strict parsers accept: non-finite floats (NaN, +-inf) become null.

``json.dumps`` writes NaN as the bare token ``NaN``, which is not JSON; :func:`finite` cleans a
document (dicts, lists, tuples, floats; other values unchanged) before it is written. Used by the app's
downloads and the inference server's responses.
"""

from __future__ import annotations

import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (tuples become lists)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


__all__ = ["finite"]
