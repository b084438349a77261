"""Duels from pixels: :class:`DuelPlayer` creates or joins a duel, then per round reads the HUD
(its HP, the opponent's, the multiplier, the countdown), captures views within its time budget,
guesses before the countdown ends, and reads the round result.

Time budget: the bot gives itself ``GameSettings.round_budget`` seconds per round; once the
opponent has guessed, the page's countdown caps it (less :data:`RESERVE_S` for the prediction and
the click). Views are captured one at a time and the capture stops early when the next view would
not fit (:meth:`bot.view.ViewCapturer.capture_views`).

Bookkeeping: after each round the bot checks the HP the page shows against
:func:`geoloc.duel.damage` of the two scores and :func:`geoloc.duel.multiplier` of the round
(``RoundRecord.hp_ok``), the same rules the arena and the app use.

Honesty: before its guess the bot reads only pixels and the visible HUD; the duel API is read only
after the round's result is on the page (the guard of :meth:`bot.player.Player.read_game`).
"""

from __future__ import annotations

import time

from bot.log import GameRecord, RoundRecord
from bot.player import Player
from bot.watcher import RoundInfo, parse_clock, parse_number
from geoloc.duel import damage, multiplier
from geoloc.errors import GeolocError

RESERVE_S = 1.5
"""Seconds kept free at the end of the budget for the prediction and the click."""
HUD_ROLES = ("hp_self", "hp_opponent", "multiplier", "timer")
RESULT_ROLES = ("result_points", "opponent_points", "damage_dealt", "damage_taken", "result_hp_self",
                "result_hp_opponent")


def _int(text: str | None) -> int | None:
    value = parse_number(text or "")
    return None if value is None else int(value)


class DuelPlayer(Player):
    """Plays duels (``GameSettings.game == "duels"``) on one browser tab."""

    # -- start ------------------------------------------------------------------------------------
    def _duel_page_ready(self) -> bool:
        v = self.page.visible("join_duel", "guess_map", "final_score", "round_result")
        waiting = self.page.js("const e = document.querySelector('[data-qa=duel-waiting]');"
                               " return !!e && !e.hidden;")
        return any(v.values()) or bool(waiting)

    def start_game(self) -> str:
        """Open the URL: a ``/duels/{id}`` page (join it when it has a free seat), or the duel lobby
        (create a duel with the settings, or join the newest open one with ``join``). Returns the id."""
        d, p, s = self.page.driver, self.page, self.settings
        d.get(self.url)
        gid = self.site.duel_id(d.current_url)
        if gid is None:
            if not (p.shown("create_duel") or p.shown("join_duel")) and self.site.name == "arena":
                d.get(self.site.page_url(self.url, "/duels"))
            if s.join:
                p.wait(lambda: p.shown("join_duel"), "an open duel to join", s.wait_opponent)
                p.click("join_duel")
            else:
                p.wait(lambda: p.shown("create_duel"), "the create-duel button")
                fields = self.site.duel_lobby_fields
                self._fill_lobby({fields.get("round_time"): s.round_time, fields.get("health"): s.health,
                                  fields.get("max_rounds"): s.max_rounds})
                p.click("create_duel")
            gid = p.wait(lambda: self.site.duel_id(d.current_url), "the duel page")
        else:
            p.wait(self._duel_page_ready, "the duel page")
            if p.shown("join_duel"):
                p.click("join_duel")
        return gid

    def _first_round_timeout(self) -> float | None:
        return self.settings.wait_opponent

    def _game_api(self, token: str) -> str:
        return self.site.duel_url(self.url, token)

    # -- rounds -----------------------------------------------------------------------------------
    def _countdown_left(self) -> float | None:
        return parse_clock(self.page.texts("timer")["timer"] or "")

    def _guess(self, rec: RoundRecord, token: str, info: RoundInfo, t0: float) -> None:
        hud = self.page.texts(*HUD_ROLES)
        rec.hp_before, rec.opp_hp_before = _int(hud["hp_self"]), _int(hud["hp_opponent"])
        rec.multiplier = parse_number(hud["multiplier"] or "")
        rec.countdown_s = parse_clock(hud["timer"] or "")
        start = time.monotonic()
        budget_end = start + self.settings.round_budget
        if rec.countdown_s is not None:
            budget_end = min(budget_end, start + rec.countdown_s)
        rec.budget_s = budget_end - start

        def deadline() -> float:
            end = budget_end
            left = self._countdown_left()  # the opponent may have guessed meanwhile
            if left is not None:
                end = min(end, time.monotonic() + left)
            return end - RESERVE_S

        views = self._capture(rec, t0, deadline)
        self._place_guess(rec, views, token, info)

    def _wait_result(self, token: str, info: RoundInfo) -> None:
        left = self._countdown_left()
        wait = max(self.page.timeout, (left if left is not None else self.settings.round_time) + 10.0)
        self.watcher.wait_result(timeout=wait)
        self._guessed.add((token, info.number))  # the round is over: its place may be read now

    def _read_result(self, rec: RoundRecord, token: str, info: RoundInfo) -> None:
        text = self.watcher.result_text()
        rec.screen_distance_km, rec.screen_points = text.distance_km, text.points
        res = self.page.texts(*RESULT_ROLES)
        rec.opp_score = _int(res["opponent_points"])
        rec.damage_dealt, rec.damage_taken = _int(res["damage_dealt"]), _int(res["damage_taken"])
        rec.hp_after, rec.opp_hp_after = _int(res["result_hp_self"]), _int(res["result_hp_opponent"])
        try:
            self._fill_from_duel(rec, self.read_game(token, info.number), info.number)
        except GeolocError as exc:
            rec.error = str(exc)
        if rec.score is None:
            rec.score = rec.screen_points
        if rec.distance_km is None:
            rec.distance_km = rec.screen_distance_km
        rec.hp_ok = self._check_hp(rec, info.number)

    @staticmethod
    def _check_hp(rec: RoundRecord, number: int) -> bool | None:
        """Whether the page's HP after the round and multiplier agree with :mod:`geoloc.duel`."""
        if None in (rec.score, rec.opp_score, rec.hp_before, rec.opp_hp_before, rec.hp_after, rec.opp_hp_after):
            return None
        mult = multiplier(number)
        taken, dealt = damage(int(rec.score), int(rec.opp_score), mult)
        return (rec.multiplier in (None, mult) and rec.hp_after == max(0, rec.hp_before - taken)
                and rec.opp_hp_after == max(0, rec.opp_hp_before - dealt))

    @staticmethod
    def _fill_from_duel(rec: RoundRecord, duel: dict, number: int) -> None:
        seat = (duel.get("you") or {}).get("seat")
        rounds = duel.get("rounds") or []
        if len(rounds) >= number:
            pano = rounds[number - 1].get("panorama") or {}
            rec.truth_lat, rec.truth_lng = pano.get("lat"), pano.get("lng")
        teams = duel.get("teams") or []
        if seat is None or len(teams) != 2:
            return
        mine, theirs = teams[seat], teams[1 - seat]
        for g in (mine.get("players") or [{}])[0].get("guesses") or []:
            if g.get("roundNumber") == number:
                rec.server_guess_lat, rec.server_guess_lng = g.get("lat"), g.get("lng")
                if g.get("distance") is not None:
                    rec.distance_km = float(g["distance"]) / 1000.0
        results = [r for r in mine.get("roundResults") or [] if r.get("roundNumber") == number]
        if results:
            rec.score = results[0].get("score")
            rec.timed_out = results[0].get("bestGuess") is None
        theirs_r = [r for r in theirs.get("roundResults") or [] if r.get("roundNumber") == number]
        if theirs_r and rec.opp_score is None:
            rec.opp_score = theirs_r[0].get("score")

    def _finish(self, rec: GameRecord, token: str, last: int) -> None:
        duel = self.read_game(token, last)
        seat = (duel.get("you") or {}).get("seat")
        teams = duel.get("teams") or []
        result = duel.get("result") or {}
        if seat is None or len(teams) != 2 or not result:
            return
        rec.total_score = teams[seat].get("health")
        rec.outcome = "draw" if result.get("isDraw") else (
            "win" if result.get("winningTeamId") == teams[seat].get("id") else "loss")


__all__ = ["RESERVE_S", "DuelPlayer"]
