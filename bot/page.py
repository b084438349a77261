"""Element access that survives slow pages and re-rendering: lookups by role, polling waits,
retries on ``StaleElementReferenceException``.

A :class:`Page` pairs a WebDriver with a :class:`~bot.sites.Site`; every other bot component
looks elements up through it by role name (``guess_button``, ``round_result`` ...), never by a
raw selector, so the site map stays the only per-site part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.sites import Site
from geoloc.errors import GeolocError

T = TypeVar("T")


class BotTimeout(GeolocError):
    """A page did not reach an expected state in time (the message says which)."""


def _transient_errors() -> tuple[type[BaseException], ...]:
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        NoSuchElementException,
        StaleElementReferenceException,
    )

    return (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException,
            ElementNotInteractableException)


@dataclass
class Page:
    """A browser tab on a game site.

    Attributes:
        driver: a Selenium WebDriver.
        site: the site's selector map.
        timeout: default seconds for waits.
        poll: seconds between polls.
        retries: attempts of an action that hits a stale / missing element.
        stats: counts of recovered faults (``stale``, ``retries``), for the round log.
    """

    driver: object
    site: Site
    timeout: float = 20.0
    poll: float = 0.05
    retries: int = 5
    stats: dict[str, int] = field(default_factory=lambda: {"stale": 0, "retries": 0})

    # -- lookups ---------------------------------------------------------------------------------
    def find(self, role: str):
        """The first element of ``role`` (NoSuchElementException if there is none)."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, self.site.sel(role))

    def find_all(self, role: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, self.site.sel(role))

    def shown(self, role: str) -> bool:
        """Whether some element of ``role`` exists and is displayed (False on stale/missing)."""
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            return any(e.is_displayed() for e in self.find_all(role))
        except StaleElementReferenceException:
            self.stats["stale"] += 1
            return False

    def visible(self, *roles: str) -> dict[str, bool]:
        """For each role, whether some element of it is rendered and not hidden, in one script
        call (a WebDriver round trip costs tens of ms on a busy machine)."""
        return self.js(
            "const out = {}; for (const [role, sel] of arguments[0]) {"
            " out[role] = Array.from(document.querySelectorAll(sel)).some(e => e.getClientRects().length > 0"
            "  && getComputedStyle(e).visibility !== 'hidden' && getComputedStyle(e).display !== 'none'); }"
            " return out;", [[r, self.site.sel(r)] for r in roles])

    def texts(self, *roles: str) -> dict[str, str | None]:
        """For each role, the text of its first rendered element (None when there is none), in one
        script call."""
        return self.js(
            "const out = {}; for (const [role, sel] of arguments[0]) {"
            " const e = Array.from(document.querySelectorAll(sel)).find(x => x.getClientRects().length > 0);"
            " out[role] = e ? e.textContent.trim() : null; } return out;",
            [[r, self.site.sel(r)] for r in roles])

    def attr(self, role: str, name: str) -> str | None:
        """Attribute ``name`` of the first ``role`` element (retried when stale)."""
        return self.retry(lambda: self.find(role).get_attribute(name))

    def text(self, role: str) -> str:
        return self.retry(lambda: self.find(role).text)

    # -- robustness ------------------------------------------------------------------------------
    def retry(self, action: Callable[[], T], attempts: int | None = None) -> T:
        """Run ``action``; on a stale, missing, intercepted or not-yet-interactable element, look
        again after a short pause (up to ``attempts`` tries), then re-raise."""
        from selenium.common.exceptions import StaleElementReferenceException

        errors = _transient_errors()
        n = attempts or self.retries
        for i in range(n):
            try:
                return action()
            except errors as exc:
                if isinstance(exc, StaleElementReferenceException):
                    self.stats["stale"] += 1
                if i == n - 1:
                    raise
                self.stats["retries"] += 1
                time.sleep(self.poll * (2**i))
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, condition: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """Poll ``condition`` until it returns something truthy (returned); transient element
        errors count as "not yet". Raises :class:`BotTimeout` naming ``what``."""
        errors = _transient_errors()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                value = condition()
                if value:
                    return value
            except errors as exc:
                if type(exc).__name__ == "StaleElementReferenceException":
                    self.stats["stale"] += 1
            if time.monotonic() > deadline:
                raise BotTimeout(f"{self.site.name}: timed out after {timeout or self.timeout:.0f} s "
                                 f"waiting for {what} (page {self.driver.current_url})")
            time.sleep(self.poll)

    def click(self, role: str) -> None:
        """Click the first ``role`` element, re-finding it when stale or briefly covered."""
        self.retry(lambda: self.find(role).click())

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def fetch_json(self, url: str, method: str = "GET", body: dict | None = None,
                   timeout: float = 20.0) -> tuple[int, dict | None]:
        """``fetch`` from inside the page (the site's cookies apply); returns (status, JSON or None)."""
        self.driver.set_script_timeout(timeout)
        script = """
        const [url, method, body, done] = arguments;
        const init = {method, credentials: 'include', headers: {'Content-Type': 'application/json'}};
        if (body !== null) init.body = JSON.stringify(body);
        fetch(url, init).then(async r => {
            let data = null; try { data = await r.json(); } catch (e) {}
            done([r.status, data]);
        }).catch(e => done([0, {message: String(e)}]));
        """
        status, data = self.driver.execute_async_script(script, url, method, body)
        return int(status), data


__all__ = ["BotTimeout", "Page"]
