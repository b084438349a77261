"""Memories across batches: the cross-batch memory (XBM) wrapper for metric losses."""

from __future__ import annotations

from representation.memory.grouped_queue import GroupedMemoryBank
from representation.memory.rehearsal import RehearsalBuffer
from representation.memory.xbm import CrossBatchMemory

__all__ = ["CrossBatchMemory", "GroupedMemoryBank", "RehearsalBuffer"]
