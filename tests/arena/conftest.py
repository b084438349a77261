"""Fixtures of the arena tests; the helpers they use live in arena_helpers.py."""

from __future__ import annotations

import pytest
from arena_helpers import random_map


@pytest.fixture
def small_map():
    return random_map()
