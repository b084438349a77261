"""representation: contrastive and multi-task representation learning (see docs/representation.md)."""

from __future__ import annotations

__version__ = "0.1.0"
