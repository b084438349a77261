"""HeadingController (turn the view: compass click or arrow keys) and ViewCapturer (hide the
UI, screenshot the panorama element at each allowed heading)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from bot.page import Page


def _view_signature(page: Page) -> tuple:
    """(heading attribute, image src) of the panorama: changes when the view turns."""
    return tuple(page.js(
        "const p = document.querySelector(arguments[0]); const i = document.querySelector(arguments[1]);"
        "const h = a => (i && i.getAttribute(a)) ?? (p && p.getAttribute(a));"
        "return [arguments[2] ? h(arguments[2]) : null, i ? (i.currentSrc || i.src || '') : ''];",
        page.site.sel("panorama"), page.site.sel("panorama_img"), page.site.heading_attr))


class HeadingController:
    """Turns the panorama by 90 degrees.

    ``method``: ``compass`` (click the compass: +90 deg in the arena) or ``keys`` (ArrowRight on
    the panorama). Rotation is allowed when a compass exists without ``data-disabled=true`` /
    ``disabled``. ``settle_s``: extra wait after the view changed (GeoGuessr repaints slowly;
    PIGEON waits 1.25 s).
    """

    def __init__(self, page: Page, method: str = "compass", settle_s: float = 0.0, timeout: float = 10.0):
        if method not in ("compass", "keys"):
            raise ValueError(f"heading method must be 'compass' or 'keys', got {method!r}")
        self.page, self.method, self.settle_s, self.timeout = page, method, settle_s, timeout

    def rotation_allowed(self) -> bool:
        def check():
            comps = self.page.find_all("compass")
            if not comps:
                return False
            c = comps[0]
            return (c.get_attribute("data-disabled") or "").lower() != "true" and c.get_attribute("disabled") is None

        return bool(self.page.retry(check))

    def heading(self) -> float | None:
        """Current heading (degrees) from the site's heading attribute, None if not exposed."""
        h = _view_signature(self.page)[0]
        try:
            return float(h) if h is not None else None
        except ValueError:
            return None

    def turn(self) -> None:
        """Turn +90 degrees and wait until the new view is shown and decoded."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        before = _view_signature(self.page)
        if self.method == "compass":
            self.page.click("compass")
        else:
            self.page.retry(lambda: ActionChains(self.page.driver)
                            .move_to_element(self.page.find("panorama")).click()
                            .send_keys(Keys.ARROW_RIGHT).perform())
        if before != (None, ""):
            self.page.wait(lambda: _view_signature(self.page) != before, "the view to turn", self.timeout)
        self.page.wait(self._decoded, "the turned view to load", self.timeout)
        if self.settle_s:
            time.sleep(self.settle_s)

    def _decoded(self) -> bool:
        return bool(self.page.js(
            "const i = document.querySelector(arguments[0]);"
            "return !!i && (i.tagName !== 'IMG' || (i.complete && i.naturalWidth > 0));",
            self.page.site.sel("panorama_img")))


@dataclass(frozen=True)
class CapturedView:
    """One screenshot of the panorama: ``heading`` (degrees, or None if unknown) and the image."""

    heading: float | None
    image: Image.Image


class ViewCapturer:
    """Screenshots of the panorama element with the game UI hidden (PIGEON hides the HUD the same
    way before its ``captureVisibleTab``)."""

    STYLE_ID = "geoloc-bot-hide-ui"

    def __init__(self, page: Page):
        self.page = page

    def hide_ui(self) -> None:
        css = ",".join(self.page.site.hide_selectors) + "{visibility:hidden !important}"
        self.page.js(
            "let s = document.getElementById(arguments[0]);"
            "if (!s) { s = document.createElement('style'); s.id = arguments[0];"
            " document.head.appendChild(s); } s.textContent = arguments[1];", self.STYLE_ID, css)

    def show_ui(self) -> None:
        self.page.js("const s = document.getElementById(arguments[0]); if (s) s.remove();", self.STYLE_ID)

    def capture(self) -> Image.Image:
        """The panorama element as an RGB image (CSS px at device scale 1)."""
        self.hide_ui()
        try:
            png = self.page.retry(lambda: self.page.find("panorama").screenshot_as_png)
        finally:
            self.show_ui()
        return Image.open(io.BytesIO(png)).convert("RGB")

    def capture_views(self, heading: HeadingController, max_views: int = 4,
                      deadline: Callable[[], float | None] | None = None) -> list[CapturedView]:
        """``max_views`` views 90 degrees apart when rotation is allowed, else the one view.
        The view is left at the last heading.

        ``deadline()``: a ``time.monotonic()`` time (or None) asked before each further view; the
        capture stops early when turning and capturing one more view (timed on the views so far)
        would pass it. The first view is always captured.
        """
        n = max_views if max_views > 1 and heading.rotation_allowed() else 1
        views: list[CapturedView] = []
        t0 = time.monotonic()
        for i in range(n):
            if i:
                limit = deadline() if deadline else None
                per_view = (time.monotonic() - t0) / i
                if limit is not None and time.monotonic() + per_view > limit:
                    break
                heading.turn()
            views.append(CapturedView(heading.heading(), self.capture()))
        return views


__all__ = ["CapturedView", "HeadingController", "ViewCapturer"]
