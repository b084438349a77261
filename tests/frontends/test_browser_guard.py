"""Where Chromium or its driver is missing, every browser test skips with one reason; none fails.

Two guards: (1) the browser-marked tests of the whole suite run once with the browser paths pointed
at files that do not exist, and must all skip; (2) a test that is *not* marked ``browser`` cannot
start a browser on any machine (``GEOLOC_NO_BROWSER`` is set for it by the root conftest), so a
forgotten mark fails here, in every run, rather than on a newcomer's machine without Chromium.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.driver import DriverOptions, browser_unavailable, make_driver
from geoloc.errors import GeolocError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_browser_tests_skip_when_chromium_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GEOLOC_NO_BROWSER"))}
    env["GEOLOC_CHROMIUM"] = str(tmp_path / "no-chromium")
    env["GEOLOC_CHROMEDRIVER"] = str(tmp_path / "no-chromedriver")
    r = subprocess.run([sys.executable, "-m", "pytest", "-m", "browser", "-q", "-rs", "-p", "no:cacheprovider",
                        "-p", "no:xdist", "--runslow", str(ROOT / "tests")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    tail = r.stdout[-3000:]
    assert r.returncode == 0, tail
    counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", tail))
    assert counts.get("skipped", 0) >= 10, tail  # the app, arena and bot browser tests
    assert counts.get("passed", 0) == 0 and counts.get("failed", 0) == 0 and "error" not in counts, tail
    reasons = set(re.findall(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", r.stdout))
    assert len(reasons) == 1 and "chromium" in reasons.pop(), r.stdout[-3000:]


def test_an_unmarked_test_cannot_start_a_browser():
    reason = browser_unavailable()
    assert reason is not None and "not marked pytest.mark.browser" in reason
    with pytest.raises(GeolocError, match=r"not marked pytest\.mark\.browser"):
        make_driver(DriverOptions())


def test_missing_binaries_are_named(monkeypatch, tmp_path):
    monkeypatch.delenv("GEOLOC_NO_BROWSER")
    monkeypatch.setenv("GEOLOC_CHROMIUM", str(tmp_path / "chromium"))
    reason = browser_unavailable()
    assert reason is not None and str(tmp_path / "chromium") in reason and "apt-get install" in reason
