"""Chromium WebDriver setup: system Chromium + /usr/bin/chromedriver only, fixed window size.

Selenium Manager is never used (it would download a driver): the Service always names the
driver binary. Optional login state: an existing profile (``--user-data-dir``) or a cookie file
(JSON list of ``{name, value, domain?, path?, secure?, expiry?}`` as exported by browser tools).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from geoloc.errors import GeolocError, InputFileError

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW_SIZE = (921, 1000)
"""PIGEON's fixed window (FRONTENDS.md §1.1): deterministic crops and map projection."""

LOOPBACK_ONLY_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
"""Chromium host-resolver rules that make every non-loopback host fail to resolve."""
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome", "chrome-extension", "devtools"})
NO_BROWSER_ENV = "GEOLOC_NO_BROWSER"
"""When set (to a reason), :func:`make_driver` refuses to start a browser and says why. The test suite
sets it for every test that is not marked ``browser``, so an unmarked browser test fails everywhere
instead of only on machines without Chromium."""


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver): ``$GEOLOC_CHROMIUM`` / ``$GEOLOC_CHROMEDRIVER``, else Debian's paths.
    Read at call time, so a test or a user can point them elsewhere."""
    return os.environ.get("GEOLOC_CHROMIUM", CHROMIUM), os.environ.get("GEOLOC_CHROMEDRIVER", CHROMEDRIVER)


def browser_unavailable() -> str | None:
    """None when a browser can start here; otherwise the one-line reason (the skip reason of every
    browser test, and the CLI's error)."""
    refused = os.environ.get(NO_BROWSER_ENV)
    if refused:
        return f"no browser may start here: {refused}"
    missing = [f"{label} at {path}" for label, path in zip(("chromium", "chromedriver"), browser_paths(),
                                                           strict=True) if not Path(path).is_file()]
    if missing:
        return ("needs Debian chromium and chromium-driver (apt-get install chromium chromium-driver); "
                "not found: " + ", ".join(missing))
    return None


@dataclass(frozen=True)
class DriverOptions:
    """How to start the browser.

    Attributes:
        headless: run without a window (``--headless=new``).
        window_size: outer window size (width, height) in px.
        user_data_dir: existing Chromium profile (e.g. logged in to geoguessr.com).
        loopback_only: block name resolution of every host but 127.0.0.1/localhost.
        performance_log: record the DevTools network log (``requests_from_log``) and the console.
        software_webgl: SwiftShader WebGL (deck.gl maps in the headless app tests).
        chromium, chromedriver: binaries; None = :func:`browser_paths`.
    """

    headless: bool = True
    window_size: tuple[int, int] = WINDOW_SIZE
    user_data_dir: str | None = None
    loopback_only: bool = False
    performance_log: bool = True
    software_webgl: bool = False
    chromium: str | None = None
    chromedriver: str | None = None


def make_driver(opts: DriverOptions | None = None):
    """Start Chromium through chromedriver (never a driver download); returns a ``webdriver.Chrome``."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    opts = opts or DriverOptions()
    default_chromium, default_driver = browser_paths()
    chromium, chromedriver = opts.chromium or default_chromium, opts.chromedriver or default_driver
    if os.environ.get(NO_BROWSER_ENV):
        raise GeolocError(browser_unavailable())
    for label, path in (("chromium", chromium), ("chromedriver", chromedriver)):
        if not Path(path).is_file():
            raise GeolocError(f"{label} not found at {path} (install Debian chromium and chromium-driver)")
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    w, h = opts.window_size
    args = [f"--window-size={w},{h}", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-extensions", "--mute-audio",
            "--force-device-scale-factor=1", "--hide-scrollbars"]
    if opts.headless:
        args.append("--headless=new")
    if opts.user_data_dir:
        args.append(f"--user-data-dir={opts.user_data_dir}")
    if opts.loopback_only:
        args.append(f"--host-resolver-rules={LOOPBACK_ONLY_RULES}")
    if opts.software_webgl:
        args += ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
    for a in args:
        o.add_argument(a)
    if opts.performance_log:
        o.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(chromedriver), options=o)
    except WebDriverException as exc:
        raise GeolocError(f"could not start Chromium: {exc.msg or exc}") from exc
    driver.set_window_size(w, h)
    return driver


def urls_in_performance_log(entries: list[dict]) -> list[str]:
    """URLs of every request and WebSocket in DevTools performance-log entries."""
    urls = []
    for entry in entries:
        msg = json.loads(entry["message"])["message"]
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            urls.append(params["url"])
    return urls


def requests_from_log(driver) -> list[str]:
    """URLs of every request the browser sent since the last call (DevTools performance log)."""
    return urls_in_performance_log(driver.get_log("performance"))


def non_loopback(urls: list[str]) -> list[str]:
    """The URLs whose host is not 127.0.0.1 / localhost / ::1 (data:, blob:, about: ... are local)."""
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in LOCAL_SCHEMES:
            continue
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            out.append(u)
    return out


def load_cookies(driver, path: str | Path, url: str) -> int:
    """Add the cookies in the JSON file ``path`` for the site at ``url``; returns how many.

    The browser first opens ``url`` (cookies can only be set for the current domain)."""
    path = Path(path)
    try:
        cookies = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read cookies ({exc})") from exc
    if not isinstance(cookies, list) or not all(isinstance(c, dict) and "name" in c and "value" in c
                                                for c in cookies):
        raise InputFileError(f"{path}: expected a JSON list of objects with 'name' and 'value'")
    driver.get(url)
    host = urlsplit(url).hostname or ""
    n = 0
    for c in cookies:
        cookie = {k: c[k] for k in ("name", "value", "path", "secure", "httpOnly") if k in c}
        domain = c.get("domain")
        if domain and host.endswith(domain.lstrip(".")):
            cookie["domain"] = domain
        if "expiry" in c or "expirationDate" in c:
            cookie["expiry"] = int(c.get("expiry", c.get("expirationDate")))
        driver.add_cookie(cookie)
        n += 1
    return n


__all__ = ["CHROMEDRIVER", "CHROMIUM", "LOCAL_SCHEMES", "LOOPBACK_ONLY_RULES", "NO_BROWSER_ENV", "WINDOW_SIZE",
           "DriverOptions", "browser_paths", "browser_unavailable", "load_cookies", "make_driver", "non_loopback",
           "requests_from_log", "urls_in_performance_log"]
