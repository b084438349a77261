"""RoundWatcher: which screen the game shows (round, round result, final score) and waiting for it.

Everything here reads the visible page only (round counter text, result texts); the answer is
never read from page data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.page import Page

_ROUND_RE = re.compile(r"(\d+)(?:\s*/\s*(\d+))?")
_CLOCK_RE = re.compile(r"(\d+):(\d{2})")
_NUMBER_RE = re.compile(r"-?\d[\d,\s\u00a0\u202f]*(?:\.\d+)?")


def parse_round(text: str) -> tuple[int, int | None] | None:
    """``"2 / 5"`` (any spacing, surrounding words allowed) -> ``(2, 5)``; a lone number (duels,
    streaks: no round count) ``"3"`` -> ``(3, None)``; None if there is no number."""
    m = _ROUND_RE.search(text or "")
    if not m:
        return None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def parse_clock(text: str) -> float | None:
    """``"1:05"`` -> 65.0 seconds; None for ``"--:--"`` or no clock."""
    m = _CLOCK_RE.search(text or "")
    return float(int(m.group(1)) * 60 + int(m.group(2))) if m else None


def parse_number(text: str) -> float | None:
    """First number in a result text: ``"1,234 km"`` -> 1234.0, ``"4 651 points"`` -> 4651.0,
    ``"12.5 km"`` -> 12.5; ``"523 m"`` -> 523.0 (units are the caller's business); None if none."""
    m = _NUMBER_RE.search(text or "")
    if not m:
        return None
    return float(re.sub(r"[,\s\u00a0\u202f]", "", m.group(0)))


def parse_distance_km(text: str) -> float | None:
    """Distance text of a result screen in km (``"1,234 km"``, ``"523 m"``, ``"12.5 mi"``)."""
    value = parse_number(text)
    if value is None:
        return None
    t = (text or "").lower()
    if re.search(r"\d\s*m\b", t) and "km" not in t:
        return value / 1000.0
    if re.search(r"\bmi(les?)?\b", t):
        return value * 1.609344
    return value


@dataclass(frozen=True)
class RoundInfo:
    """The round on screen: ``number`` (1-based) of ``total`` (None when games have no round count)."""

    number: int
    total: int | None


@dataclass(frozen=True)
class ResultText:
    """What the round-result screen says (None where a text could not be read)."""

    distance_km: float | None
    points: float | None


class RoundWatcher:
    """Waits for the game's screens. ``state()`` is ``"final"``, ``"result"``, ``"round"`` or
    ``"loading"``."""

    def __init__(self, page: Page):
        self.page = page

    def state(self) -> str:
        v = self.page.visible("final_score", "round_result", "guess_map")
        if v["final_score"]:
            return "final"
        if v["round_result"]:
            return "result"
        if v["guess_map"] and self.view_ready():
            return "round"
        return "loading"

    def view_ready(self) -> bool:
        """Panorama image present and decoded (``complete`` with a non-zero natural width)."""
        return bool(self.page.js(
            "const i = document.querySelector(arguments[0]);"
            "return !!i && (i.tagName !== 'IMG' || (i.complete && i.naturalWidth > 0));",
            self.page.site.sel("panorama_img")))

    def round_info(self) -> RoundInfo | None:
        r = parse_round(self.page.text("round_number"))
        return RoundInfo(*r) if r else None

    def wait_round(self, after: int = 0, timeout: float | None = None) -> RoundInfo:
        """Wait until a round with number > ``after`` is playable; returns it. If the game
        already shows its final score, raises :class:`~bot.page.BotTimeout` quickly."""

        def ready():
            state = self.state()
            if state == "final":
                return "final"
            if state != "round":
                return None
            info = self.round_info()
            return info if info and info.number > after else None

        got = self.page.wait(ready, f"round {after + 1}", timeout)
        if got == "final":
            from bot.page import BotTimeout

            raise BotTimeout(f"{self.page.site.name}: the game ended before round {after + 1}")
        return got

    def wait_result(self, timeout: float | None = None) -> str:
        """Wait for the round result or the final score; returns the state reached."""
        return self.page.wait(lambda: (s := self.state()) in ("result", "final") and s,
                              "the round result", timeout)

    def result_text(self) -> ResultText:
        p = self.page
        try:
            d = parse_distance_km(p.text("result_distance"))
        except Exception:
            d = None
        try:
            pts = parse_number(p.text("result_points"))
        except Exception:
            pts = None
        return ResultText(d, pts)

    def next_round(self, timeout: float | None = None) -> str:
        """Leave the result screen: click "next" unless the final score shows; returns the
        state reached (``round`` or ``final``)."""
        if self.state() == "final":
            return "final"
        if self.page.visible("next_round")["next_round"]:
            self.page.click("next_round")
        return self.page.wait(lambda: (s := self.state()) in ("round", "final") and s,
                              "the next round or the final score", timeout)


__all__ = ["ResultText", "RoundInfo", "RoundWatcher", "parse_clock", "parse_distance_km", "parse_number",
           "parse_round"]
