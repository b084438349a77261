"""Make the helper modules of every representation test folder importable from any of them (and from
the gloo workers they spawn, which inherit ``sys.path``), whatever subset pytest collects; and run
the methods tests (tiny tensors) on one intra-op torch thread: faster than oversubscribing the
shared cores, and reproducible timings (the previous thread count is restored)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

for _sub in ("core", "methods_a", "methods_b", "methods_c", "ddp", "lib", "lm"):
    _path = str(Path(__file__).parent / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

SINGLE_THREAD_FOLDERS = {"methods_b", "methods_c"}


@pytest.fixture(autouse=True)
def _single_torch_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    if Path(str(request.node.path)).parent.name not in SINGLE_THREAD_FOLDERS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
