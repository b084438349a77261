"""Test helpers: naive reference implementations and the 2-process gloo DDP harness."""

from __future__ import annotations

from representation.testing.ddp import free_port, run_ddp

__all__ = ["free_port", "run_ddp"]
