"""Memories across batches: the cross-batch memory (XBM) wrapper for metric losses."""

from __future__ import annotations

from representation.memory.xbm import CrossBatchMemory

__all__ = ["CrossBatchMemory"]
