"""Fixtures for the bot's browser tests: an arena in hide-answer mode and a headless
loopback-only Chromium (the fault-injection doubles live in ``bot_fakes.py``)."""

from __future__ import annotations

import pytest

from bot.driver import DriverOptions, make_driver, requests_from_log


@pytest.fixture(scope="module")
def arena():
    """A SynthWorld arena (10 places, 128 px views) in hide-answer mode on 127.0.0.1."""
    from bot.arena import serve

    srv = serve("synthworld", hide_answer=True, locations=10, size=128, seed=3)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, 921x1000, every non-loopback host unresolvable, network log on."""
    d = make_driver(DriverOptions(headless=True, loopback_only=True, performance_log=True))
    yield d
    d.quit()


@pytest.fixture
def requests_seen(browser):
    """Clears the browser's network log before the test; call it to get the URLs requested since."""
    requests_from_log(browser)
    return lambda: requests_from_log(browser)
