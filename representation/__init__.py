"""representation: contrastive and multi-task representation learning (see docs/representation.md).

Top-level shortcuts (imported lazily, so ``import representation`` stays light)::

    import representation as rep
    loss = rep.build({"type": "supcon", "temperature": 0.1})   # any registered component
    rep.to_config(loss)                                        # {"type": "supcon", ...}
    rep.names("loss")                                          # what is registered
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

_LAZY = {"build": "representation.registry", "to_config": "representation.registry",
         "names": "representation.registry", "register": "representation.registry",
         "GatherSpec": "representation.distributed.gather"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'representation' has no attribute {name!r}")


__all__ = ["GatherSpec", "__version__", "build", "names", "register", "to_config"]
