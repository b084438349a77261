"""The demo tour prints its tables (the geocell part is slow and runs with --runslow)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from geoloc.demo import CITIES, PROBES, run_demo


def _run(**kwargs) -> str:
    buf = io.StringIO()
    run_demo(console=Console(file=buf, width=220), **kwargs)
    return buf.getvalue()


def test_demo_tables_without_geocells():
    out = _run(geocells=False)
    for name, *_ in CITIES + PROBES:
        assert name in out
    assert "5837" in out.replace(",", "")  # Paris - New York km
    assert "FRA / Paris" in out and "AUS / New South Wales" in out
    assert "Semantic geocells" not in out


@pytest.mark.slow
def test_demo_with_geocells():
    pytest.importorskip("geoloc.cells")
    out = _run(geocells=True)
    assert "Semantic geocells from 5,000" in out
    assert "cells" in out and "points" in out
