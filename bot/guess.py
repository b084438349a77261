"""GuessPlacer strategies: click the guess map at the projected pixel (UI), or POST the guess to
the game API (GeoGuessr's ``/api/v3/games/{token}``, as public bots do; a duel's
``/api/duels/{id}/guess`` with ``{lat, lng, roundNumber}``, as PIGEON's extension does). Country
streaks: pick the country in the page's country list (UI) or POST ``streakLocationCode`` (API)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.page import Page
from bot.projection import ClickTarget, MapGeometry, click_offset
from geoloc.errors import GeolocError


class GuessRejected(GeolocError):
    """The site did not accept the guess (the message has the site's answer)."""


class RoundOver(GeolocError):
    """The round ended (result or final screen) before the guess could be placed, e.g. a timeout."""


@dataclass(frozen=True)
class Placement:
    """How a guess went in: ``lat``/``lng`` actually submitted (the clicked pixel's point for UI
    clicks), the click (None for API), the strategy, and whether the marker check passed."""

    lat: float
    lng: float
    strategy: str
    click: ClickTarget | None = None
    marker_ok: bool | None = None


_RECT_JS = """
const el = document.querySelector(arguments[0]); if (!el) return null;
const r = el.getBoundingClientRect();
const a = {}; for (const k of ['data-zoom', 'data-center-lat', 'data-center-lng',
                              'data-marker-lat', 'data-marker-lng']) a[k] = el.getAttribute(k);
return {left: r.left, top: r.top, width: r.width, height: r.height, attrs: a,
        vw: window.innerWidth, vh: window.innerHeight};
"""


def read_geometry(page: Page) -> tuple[MapGeometry, tuple[float, float], dict]:
    """The guess map's geometry, the element-relative point Selenium offsets from (WebDriver's
    in-view centre: ``floor(left + w/2) - left`` within the viewport) and the raw attributes."""
    info = page.js(_RECT_JS, page.site.sel("guess_canvas"))
    if info is None:
        raise GeolocError(f"{page.site.name}: no guess map canvas on the page")
    geom = MapGeometry.from_attributes(info["attrs"], info["width"], info["height"])
    left, top, w, h = info["left"], info["top"], info["width"], info["height"]
    vis_l, vis_r = max(left, 0.0), min(left + w, info["vw"])
    vis_t, vis_b = max(top, 0.0), min(top + h, info["vh"])
    origin = (math.floor((vis_l + vis_r) / 2.0) - left, math.floor((vis_t + vis_b) / 2.0) - top)
    return geom, origin, info["attrs"]


class UiClickPlacer:
    """Click the guess map where ``(lat, lng)`` is drawn, check the marker, press "guess".

    The map is hovered first and its geometry read afterwards (maps that grow on hover keep
    their final size). The marker check: the guess button becomes enabled, and if the canvas
    reports ``data-marker-lat``/``data-marker-lng`` they must be within ``marker_tol_px`` pixels
    of the click.
    """

    name = "ui"

    def __init__(self, page: Page, marker_tol_px: float = 2.0, timeout: float = 5.0):
        self.page, self.marker_tol_px, self.timeout = page, marker_tol_px, timeout

    def _check_round_on(self) -> None:
        if any(self.page.visible("round_result", "final_score").values()):
            raise RoundOver(f"{self.page.site.name}: the round ended before the guess was placed")

    def place(self, lat: float, lng: float, token: str | None = None, round_number: int | None = None) -> Placement:
        from selenium.webdriver.common.action_chains import ActionChains

        p = self.page
        self._check_round_on()
        p.js("const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'nearest'});",
             p.site.sel("guess_canvas"))

        def click():
            self._check_round_on()
            canvas = p.find("guess_canvas")
            ActionChains(p.driver).move_to_element(canvas).perform()
            geom, origin, _ = read_geometry(p)
            target = click_offset(geom, lat, lng, origin)
            ActionChains(p.driver).move_to_element_with_offset(canvas, target.dx, target.dy).click().perform()
            return geom, target

        geom, target = p.retry(click)
        p.wait(lambda: self._button_enabled(), "the guess button to enable", self.timeout)
        marker_ok = self._verify(geom, target)
        p.click("guess_button")
        return Placement(target.lat, target.lng, self.name, target, marker_ok)

    def _button_enabled(self) -> bool:
        self._check_round_on()
        b = self.page.find("guess_button")
        return b.is_enabled() and b.get_attribute("disabled") is None

    def _verify(self, geom: MapGeometry, target: ClickTarget) -> bool | None:
        """None when the map reports no marker position; True when it is within tolerance."""
        attrs = read_geometry(self.page)[2]
        if attrs.get("data-marker-lat") in (None, "") or attrs.get("data-marker-lng") in (None, ""):
            return None
        mx, my = geom.to_px(float(attrs["data-marker-lat"]), float(attrs["data-marker-lng"]))
        err = math.hypot(mx - target.x, my - target.y)
        if err > self.marker_tol_px:
            raise GuessRejected(f"{self.page.site.name}: marker landed {err:.1f} px from the click "
                                f"(wanted {target.lat:.4f}, {target.lng:.4f})")
        return True


class ApiPlacer:
    """POST ``{token, lat, lng, timedOut: false, stepsCount: 0}`` to the game API from inside the
    page (the session's cookies apply), then reload so the page shows the round result."""

    name = "api"

    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def place(self, lat: float, lng: float, token: str | None = None, round_number: int | None = None) -> Placement:
        if not token:
            raise GeolocError(f"{self.page.site.name}: API guesses need the game token (not on a /game/ page?)")
        url = self.page.site.api_url(self.base_url, token)
        body = {"token": token, "lat": float(lat), "lng": float(lng), "timedOut": False, "stepsCount": 0}
        status, data = self.page.fetch_json(url, "POST", body)
        if not 200 <= status < 300:
            msg = (data or {}).get("message") or (data or {}).get("error") or data
            raise GuessRejected(f"{self.page.site.name}: guess refused with HTTP {status}: {msg}")
        self.page.driver.refresh()
        return Placement(float(lat), float(lng), self.name)


class DuelApiPlacer:
    """POST ``{lat, lng, roundNumber}`` to the duel's ``/guess`` from inside the page (cookies
    apply). The duel page polls, so nothing is reloaded."""

    name = "api"

    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def place(self, lat: float, lng: float, token: str | None = None, round_number: int | None = None) -> Placement:
        if not token or round_number is None:
            raise GeolocError(f"{self.page.site.name}: duel guesses need the duel id and the round number")
        url = self.page.site.duel_url(self.base_url, token, "/guess")
        body = {"lat": float(lat), "lng": float(lng), "roundNumber": int(round_number)}
        status, data = self.page.fetch_json(url, "POST", body)
        if not 200 <= status < 300:
            msg = (data or {}).get("message") or (data or {}).get("error") or data
            raise GuessRejected(f"{self.page.site.name}: duel guess refused with HTTP {status}: {msg}")
        return Placement(float(lat), float(lng), self.name)


@dataclass(frozen=True)
class Pick:
    """How a country pick went in: the code submitted, the strategy, and whether the page shows it."""

    code: str
    strategy: str
    shown_ok: bool | None = None


class UiCountryPicker:
    """Choose the country in the page's country list (``country_select``), check that the page
    shows it as picked, press "guess"."""

    name = "ui"

    def __init__(self, page: Page, timeout: float = 5.0):
        self.page, self.timeout = page, timeout

    def pick(self, code: str, token: str | None = None, round_number: int | None = None) -> Pick:
        from selenium.webdriver.support.ui import Select

        p = self.page
        if any(p.visible("round_result", "final_score").values()):
            raise RoundOver(f"{p.site.name}: the round ended before the pick")
        p.wait(lambda: p.attr("country_select", "data-ready") == "true", "the country list", self.timeout)
        p.retry(lambda: Select(p.find("country_select")).select_by_value(code))
        p.wait(lambda: p.find("guess_button").is_enabled(), "the guess button to enable", self.timeout)
        shown = p.js("const e = document.querySelector('[data-qa=selected-country]'); return e && e.dataset.code;")
        p.click("guess_button")
        return Pick(code, self.name, None if shown is None else shown == code)


class ApiCountryPicker:
    """POST ``{token, streakLocationCode, timedOut: false[, roundNumber]}`` to the game API from the
    page, then reload so the page shows the result."""

    name = "api"

    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def pick(self, code: str, token: str | None = None, round_number: int | None = None) -> Pick:
        if not token:
            raise GeolocError(f"{self.page.site.name}: API picks need the game token (not on a /game/ page?)")
        body: dict = {"token": token, "streakLocationCode": code, "timedOut": False}
        if round_number is not None:
            body["roundNumber"] = int(round_number)
        status, data = self.page.fetch_json(self.page.site.api_url(self.base_url, token), "POST", body)
        if not 200 <= status < 300:
            msg = (data or {}).get("message") or (data or {}).get("error") or data
            raise GuessRejected(f"{self.page.site.name}: pick refused with HTTP {status}: {msg}")
        self.page.driver.refresh()
        return Pick(code, self.name)


def make_placer(kind: str, page: Page, base_url: str, game: str = "standard"):
    """``ui`` -> :class:`UiClickPlacer`; ``api`` -> :class:`ApiPlacer` (:class:`DuelApiPlacer` when
    ``game`` is ``duels``; :class:`ApiCountryPicker` / :class:`UiCountryPicker` for ``streak``).
    GeolocError for other kinds, or UI clicks on a map that exposes no geometry."""
    if game == "streak":
        if kind in ("ui", "api"):
            return UiCountryPicker(page) if kind == "ui" else ApiCountryPicker(page, base_url)
        raise GeolocError(f"unknown placer {kind!r}; use 'ui' or 'api'")
    if kind == "ui":
        if not page.site.map_geometry:
            raise GeolocError(f"site {page.site.name!r}: the guess map exposes no zoom/centre; use --placer api")
        return UiClickPlacer(page)
    if kind == "api":
        return DuelApiPlacer(page, base_url) if game == "duels" else ApiPlacer(page, base_url)
    raise GeolocError(f"unknown placer {kind!r}; use 'ui' or 'api'")


__all__ = ["ApiCountryPicker", "ApiPlacer", "DuelApiPlacer", "GuessRejected", "Pick", "Placement", "RoundOver",
           "UiClickPlacer", "UiCountryPicker", "make_placer", "read_geometry"]
