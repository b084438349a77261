"""The game loop: start a game, then per round wait -> capture -> predict -> place -> read the
result -> next; a round log and a game record per game.

Honesty: the game API is read only after the current round's guess is in (the truth, distance
and score come from it then), never before; :class:`Player` enforces this with a check on every
API read. Before the guess the bot knows only the pixels of the panorama.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.guess import make_placer
from bot.log import GameRecord, RoundLog, RoundRecord
from bot.page import Page
from bot.predictor import Predictor
from bot.sites import Site
from bot.view import HeadingController, ViewCapturer
from bot.watcher import RoundInfo, RoundWatcher
from geoloc.errors import GeolocError


class HonestyError(GeolocError):
    """The bot tried to read the game API for a round it has not guessed yet (a bug)."""


@dataclass
class GameSettings:
    """What to play: ``mode`` (moving / nm / nmpz), ``time_limit`` (s, 0 = none), ``rounds``,
    ``max_views`` (headings captured when rotation is allowed), ``placer`` (``ui`` / ``api``;
    None = the site's default), ``heading_method`` (``compass`` / ``keys``).

    ``game``: ``standard``, ``duels`` or ``streak``. Duels: ``join`` (join an open duel instead of
    creating one), ``round_time`` (countdown after the first guess, s), ``health``, ``max_rounds``
    (0 = none) for a created duel; ``round_budget`` (seconds the bot allows itself per round, the
    countdown permitting); ``wait_opponent`` (seconds to wait for a second player).
    """

    mode: str = "moving"
    time_limit: int = 0
    rounds: int = 5
    max_views: int = 4
    placer: str | None = None
    heading_method: str = "compass"
    game: str = "standard"
    join: bool = False
    round_time: int = 15
    health: int = 6000
    max_rounds: int = 0
    round_budget: float = 10.0
    wait_opponent: float = 300.0


class Player:
    """Plays standard games on one browser tab (:class:`bot.duel.DuelPlayer` and
    :class:`bot.streak.StreakPlayer` override the steps that differ)."""

    def __init__(self, driver, site: Site, url: str, predictor: Predictor, settings: GameSettings | None = None,
                 log: RoundLog | None = None, timeout: float = 20.0, on_round=None):
        self.site, self.url, self.predictor = site, url, predictor
        self.settings = settings or GameSettings()
        self.page = Page(driver, site, timeout=timeout)
        self.watcher = RoundWatcher(self.page)
        self.heading = HeadingController(self.page, self.settings.heading_method)
        self.capturer = ViewCapturer(self.page)
        self.placer = make_placer(self.settings.placer or site.default_placer, self.page, url, self.settings.game)
        self.log = log or RoundLog(None)
        self.on_round = on_round
        self._guessed: set[tuple[str, int]] = set()

    # -- game start ------------------------------------------------------------------------------
    def _fill_lobby(self, inputs: dict[str | None, object]) -> None:
        """Pick the mode radio (when the site's lobby has them) and type ``inputs`` (selector -> value)."""
        from selenium.webdriver.common.by import By

        d, p, s = self.page.driver, self.page, self.settings
        if not self.site.mode_selectors:
            return
        if s.mode not in self.site.mode_selectors:
            raise GeolocError(f"{self.site.name}: unknown mode {s.mode!r}; use {', '.join(self.site.mode_selectors)}")
        p.retry(lambda: d.find_element(By.CSS_SELECTOR, self.site.mode_selectors[s.mode]).click())
        for sel, value in inputs.items():
            if sel:
                def fill(sel=sel, value=value):
                    el = d.find_element(By.CSS_SELECTOR, sel)
                    el.clear()
                    el.send_keys(str(value))
                p.retry(fill)

    def start_game(self) -> str:
        """Open the site URL; on a lobby pick the mode / time limit / rounds and press start.
        Returns the game token from the ``/game/{token}`` URL."""
        d, p, s = self.page.driver, self.page, self.settings
        d.get(self.url)
        token = self.site.game_token(d.current_url)
        if token:
            return token
        p.wait(lambda: p.shown("start_game"), "the start-game button")
        self._fill_lobby({self.site.time_limit_input: s.time_limit, self.site.rounds_input: s.rounds})
        p.click("start_game")
        return p.wait(lambda: self.site.game_token(d.current_url), "the game page after start")

    # -- API (after the guess only) --------------------------------------------------------------
    def _game_api(self, token: str) -> str:
        return self.site.api_url(self.url, token)

    def read_game(self, token: str, after_round: int) -> dict:
        """The game JSON; only allowed once round ``after_round`` of ``token`` has been guessed."""
        if (token, after_round) not in self._guessed:
            raise HonestyError(f"refusing to read game {token} before round {after_round} was guessed")
        status, data = self.page.fetch_json(self._game_api(token))
        if status != 200 or not isinstance(data, dict):
            raise GeolocError(f"{self.site.name}: game API answered HTTP {status}: {str(data)[:200]}")
        return data

    # -- rounds ----------------------------------------------------------------------------------
    def _capture(self, rec: RoundRecord, t0: float, deadline=None) -> list:
        views = self.capturer.capture_views(self.heading, self.settings.max_views, deadline)
        rec.views, rec.headings = len(views), [v.heading for v in views]
        rec.capture_s = time.perf_counter() - t0
        return views

    def _guess(self, rec: RoundRecord, token: str, info: RoundInfo, t0: float) -> None:
        """Capture, predict and place the guess (the steps a timer may interrupt)."""
        views = self._capture(rec, t0)
        self._place_guess(rec, views, token, info)

    def _place_guess(self, rec: RoundRecord, views: list, token: str, info: RoundInfo) -> None:
        guess = self.predictor.predict([v.image for v in views])
        rec.guess_lat, rec.guess_lng, rec.predict_ms = float(guess.lat), float(guess.lng), guess.ms
        t1 = time.perf_counter()
        placement = self.placer.place(guess.lat, guess.lng, token, info.number)
        rec.place_s = time.perf_counter() - t1
        rec.placed_lat, rec.placed_lng, rec.marker_ok = placement.lat, placement.lng, placement.marker_ok

    def _wait_result(self, token: str, info: RoundInfo) -> None:
        """The guess is in (or the round ended): wait for the round's result on the page."""
        self._guessed.add((token, info.number))
        if self.placer.name == "api":
            self.page.wait(lambda: self.watcher.state() != "loading", "the page after the API guess")
        else:
            self.watcher.wait_result()

    def _read_result(self, rec: RoundRecord, token: str, info: RoundInfo) -> None:
        if self.watcher.state() in ("result", "final"):
            text = self.watcher.result_text()
            rec.screen_distance_km, rec.screen_points = text.distance_km, text.points
        self._fill_from_api(rec, token, info.number)

    def play_round(self, game_no: int, token: str, info: RoundInfo) -> RoundRecord:
        p, s = self.page, self.settings
        t0 = time.perf_counter()
        stale0, retries0 = p.stats["stale"], p.stats["retries"]
        rec = RoundRecord(game=game_no, token=token, site=self.site.name,
                          mode=s.mode if s.game == "standard" else s.game, round=info.number,
                          rounds=info.total or 0, placer=self.placer.name)
        try:
            self._guess(rec, token, info, t0)
        except Exception as exc:  # a timer may end the round at any step
            if self.watcher.state() not in ("result", "final"):
                if isinstance(exc, GeolocError):
                    raise
                raise GeolocError(f"round {info.number}: {type(exc).__name__}: {exc}") from exc
            rec.timed_out = True  # the round ended (timer) before the bot's guess
        self._wait_result(token, info)
        self._read_result(rec, token, info)
        rec.seconds = time.perf_counter() - t0
        rec.stale, rec.retries = p.stats["stale"] - stale0, p.stats["retries"] - retries0
        return rec

    def _fill_from_api(self, rec: RoundRecord, token: str, number: int) -> None:
        try:
            game = self.read_game(token, number)
        except GeolocError as exc:
            rec.error = str(exc)
            game = {}
        rounds = game.get("rounds") or []
        if len(rounds) >= number:
            truth = rounds[number - 1]
            rec.truth_lat, rec.truth_lng = truth.get("lat"), truth.get("lng")
        guesses = (game.get("player") or {}).get("guesses") or []
        if len(guesses) >= number:
            g = guesses[number - 1]
            rec.server_guess_lat, rec.server_guess_lng = g.get("lat"), g.get("lng")
            if g.get("distanceInMeters") is not None:
                rec.distance_km = float(g["distanceInMeters"]) / 1000.0
            rec.score = g.get("roundScoreInPoints")
            rec.timed_out = bool(g.get("timedOut", rec.timed_out))
        if rec.distance_km is None:
            rec.distance_km = rec.screen_distance_km
        if rec.score is None:
            rec.score = rec.screen_points

    def _finish(self, rec: GameRecord, token: str, last: int) -> None:
        """After the last round: the site's total (read from the API, the last round being guessed)."""
        total = ((self.read_game(token, last).get("player") or {}).get("totalScore") or {})
        rec.total_score = total.get("amount")

    def _first_round_timeout(self) -> float | None:
        return None

    def play_game(self, game_no: int = 1) -> GameRecord:
        """One whole game; a failure is recorded in ``GameRecord.error`` (rounds so far kept)."""
        s = self.settings
        rec = GameRecord(game=game_no, token=None, mode=s.mode if s.game == "standard" else s.game)
        last = 0
        try:
            token = rec.token = self.start_game()
            while True:
                if self.watcher.state() == "final":
                    break
                info = self.watcher.wait_round(after=last, timeout=self._first_round_timeout() if not last else None)
                r = self.play_round(game_no, token, info)
                rec.rounds.append(r)
                self.log.write(r)
                if self.on_round:
                    self.on_round(r)
                last = info.number
                if self.watcher.next_round() == "final" or (info.total is not None and info.number >= info.total):
                    break
            if last:
                self._finish(rec, token, last)
        except Exception as exc:
            rec.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return rec


__all__ = ["GameSettings", "HonestyError", "Player"]
