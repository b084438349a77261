"""Test helpers: naive reference implementations, the gloo DDP harness and the DDP-equivalence cases."""

from __future__ import annotations

from representation.testing.ddp import free_port, run_ddp
from representation.testing.equivalence import DDPCase, assert_equivalent, full_batch, run_cases, uneven_sizes

__all__ = ["DDPCase", "assert_equivalent", "free_port", "full_batch", "run_cases", "run_ddp", "uneven_sizes"]
