"""Methods-C tests use tiny tensors: one intra-op thread is faster than oversubscribing the
shared cores (and makes timings reproducible). The previous thread count is restored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
