"""Country streaks from pixels: :class:`StreakPlayer` starts a streak, then per round captures the
views, asks the model for the most probable country (``Prediction.countries`` summed per ISO
alpha-2 code, :meth:`bot.predictor.GeolocatorPredictor.predict_country`), picks it (the page's
country list, or ``streakLocationCode`` by API) and reads the right answer once the pick is in,
until a pick is wrong.
"""

from __future__ import annotations

import time

from bot.log import GameRecord, RoundRecord
from bot.player import Player
from bot.watcher import RoundInfo
from geoloc.errors import GeolocError


class StreakPlayer(Player):
    """Plays country streaks (``GameSettings.game == "streak"``) on one browser tab."""

    def start_game(self) -> str:
        """Open the URL: a ``/game/{token}`` streak, or a lobby (the arena's home lobby leads to the
        streak lobby); set the mode and time limit and press start. Returns the token."""
        d, p, s = self.page.driver, self.page, self.settings
        d.get(self.url)
        token = self.site.game_token(d.current_url)
        if token:
            return token
        if not p.shown("start_streak"):
            if self.site.streak_lobby:
                d.get(self.site.page_url(self.url, self.site.streak_lobby))
            else:
                p.wait(lambda: p.shown("play_streak"), "the country-streak link")
                p.click("play_streak")
        p.wait(lambda: p.shown("start_streak"), "the start-streak button")
        self._fill_lobby({self.site.time_limit_input: s.time_limit})
        p.click("start_streak")
        return p.wait(lambda: self.site.game_token(d.current_url), "the streak page after start")

    def _place_guess(self, rec: RoundRecord, views: list, token: str, info: RoundInfo) -> None:
        guess = self.predictor.predict_country([v.image for v in views])
        rec.country_pick, rec.country_prob, rec.predict_ms = guess.code, guess.probability, guess.ms
        t1 = time.perf_counter()
        pick = self.placer.pick(guess.code, token, info.number)
        rec.place_s = time.perf_counter() - t1
        rec.marker_ok = pick.shown_ok

    def _read_result(self, rec: RoundRecord, token: str, info: RoundInfo) -> None:
        try:
            game = self.read_game(token, info.number)
        except GeolocError as exc:
            rec.error = str(exc)
            return
        rounds = game.get("rounds") or []
        if len(rounds) >= info.number:
            truth = rounds[info.number - 1]
            rec.truth_lat, rec.truth_lng = truth.get("lat"), truth.get("lng")
            rec.country_truth = truth.get("streakLocationCode")
        guesses = (game.get("player") or {}).get("guesses") or []
        if len(guesses) >= info.number:
            g = guesses[info.number - 1]
            rec.correct = bool(g.get("isCorrect"))
            rec.timed_out = bool(g.get("timedOut", rec.timed_out))
        rec.streak = (game.get("player") or {}).get("totalStreak")
        shown = self.page.attr("streak_answer", "data-code") if self.watcher.state() == "result" else None
        if shown is not None and rec.country_truth is not None and shown != rec.country_truth:
            rec.error = f"the result screen names {shown!r}, the API {rec.country_truth!r}"

    def _finish(self, rec: GameRecord, token: str, last: int) -> None:
        streak = (self.read_game(token, last).get("player") or {}).get("totalStreak")
        rec.total_score = streak
        rec.outcome = None if streak is None else f"streak {streak}"


__all__ = ["StreakPlayer"]
