"""Make the helper modules of every representation test folder importable from any of them (and from
the gloo workers they spawn, which inherit ``sys.path``), whatever subset pytest collects."""

from __future__ import annotations

import sys
from pathlib import Path

for _sub in ("core", "methods_a", "methods_b", "ddp", "lib", "lm"):
    _path = str(Path(__file__).parent / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)
