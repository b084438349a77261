"""Headless Chromium bots play duels and country streaks on the arena in hide-answer mode: two bots
in two browsers duel each other; a bot's time budget yields to the countdown an opponent starts and a
stalled round scores 0; a bot plays country streaks with both pickers. Every request stays on loopback."""

from __future__ import annotations

import threading
import time

import pytest
from bot_fakes import StallingPredictor

from bot.arena import serve
from bot.cli import make_player
from bot.driver import DriverOptions, make_driver, non_loopback, requests_from_log
from bot.log import RoundLog, read_log
from bot.player import GameSettings, HonestyError
from bot.predictor import GeolocatorPredictor, RandomPredictor
from bot.sites import ARENA
from geoloc.geo import haversine_km
from geoloc.geo.score import geoguessr_score_mapsize

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PX_DEG = 360.0 / 600.0
OPPONENT = "api-opponent-1"


@pytest.fixture(scope="module")
def duel_arena():
    srv = serve("synthworld", hide_answer=True, locations=10, size=128, seed=3, duel_delay_s=1.0, grace_s=0.5)
    srv.store.location_countries()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def second_browser():
    d = make_driver(DriverOptions(headless=True, loopback_only=True, performance_log=True))
    yield d
    d.quit()


def _check_duel_round(r, duel: dict, seat: int):
    """A bot's record of round r.round against the server's duel JSON (read after the duel)."""
    assert r.error is None, r.error
    assert r.hp_ok is True, r
    mine, theirs = duel["teams"][seat], duel["teams"][1 - seat]
    res, opp = mine["roundResults"][r.round - 1], theirs["roundResults"][r.round - 1]
    assert (r.score, r.opp_score) == (res["score"], opp["score"])
    assert (r.hp_before, r.hp_after) == (res["healthBefore"], res["healthAfter"])
    assert (r.damage_dealt, r.damage_taken) == (res["damageDealt"], opp["damageDealt"])
    assert r.multiplier == duel["rounds"][r.round - 1]["multiplier"]
    pano = duel["rounds"][r.round - 1]["panorama"]
    assert (r.truth_lat, r.truth_lng) == (pano["lat"], pano["lng"])
    if not r.timed_out:
        assert abs(r.placed_lng - r.guess_lng) <= PX_DEG
        assert (r.server_guess_lat, r.server_guess_lng) == pytest.approx((r.placed_lat, r.placed_lng), abs=1e-6)
        assert r.score == geoguessr_score_mapsize(float(haversine_km(r.placed_lat, r.placed_lng, pano["lat"],
                                                                     pano["lng"])))


def test_two_bots_duel_in_two_browsers(duel_arena, browser, second_browser, tiny_bundle_dir, tmp_path):
    requests_from_log(browser), requests_from_log(second_browser)
    out: dict[str, object] = {}
    log = RoundLog(tmp_path / "duel.jsonl")

    def run(name, driver, predictor, settings):
        p = make_player(driver, ARENA, duel_arena.url + "/", predictor, settings, log if name == "a" else None)
        out[name] = p.play_game(1)

    a = threading.Thread(target=run, args=("a", browser, GeolocatorPredictor(tiny_bundle_dir),
                                           GameSettings(game="duels", mode="nm", health=1500, round_time=10,
                                                        max_rounds=6)))
    b = threading.Thread(target=run, args=("b", second_browser, RandomPredictor(7),
                                           GameSettings(game="duels", join=True, max_views=1, wait_opponent=60)))
    a.start()
    time.sleep(1.0)
    b.start()
    a.join(150), b.join(150)
    ga, gb = out["a"], out["b"]
    assert ga.error is None and gb.error is None, (ga.error, gb.error)
    assert ga.token == gb.token and len(ga.rounds) == len(gb.rounds) >= 1
    duel = duel_arena.store.get_duel(ga.token)
    assert duel["status"] == "Finished" and duel["options"]["movementOptions"]["forbidMoving"] is True
    seat_a = 0  # the creator
    for ra, rb in zip(ga.rounds, gb.rounds, strict=True):
        _check_duel_round(ra, duel, seat_a)
        _check_duel_round(rb, duel, 1 - seat_a)
        assert (ra.hp_after, ra.opp_hp_after) == (rb.opp_hp_after, rb.hp_after)
        assert ra.views == 4 and rb.views == 1
    outcomes = {ga.outcome, gb.outcome}
    assert outcomes in ({"win", "loss"}, {"draw"})
    assert ga.total_score == duel["teams"][0]["health"] and gb.total_score == duel["teams"][1]["health"]
    assert [rec["round"] for rec in read_log(tmp_path / "duel.jsonl")] == [r.round for r in ga.rounds]
    for d in (browser, second_browser):
        urls = requests_from_log(d)
        assert any("/api/duels/" in u for u in urls) and non_loopback(urls) == []


def _api_opponent(store, stop: threading.Event, guess=(0.0, 0.0)):
    """Joins the first open duel through the game API and guesses at once in every round."""
    gid = None
    while not stop.is_set():
        if gid is None:
            listed = store.list_duels()
            if listed:
                gid = listed[0]["gameId"]
                store.join_duel(gid, {"nick": "API"}, OPPONENT)
        else:
            duel = store.get_duel(gid, OPPONENT)
            if duel["status"] == "Finished":
                return
            mine = duel["teams"][duel["you"]["seat"]]
            if duel["roundOpensInSeconds"] == 0 and not mine["hasGuessedCurrentRound"]:
                store.guess_duel(gid, {"lat": guess[0], "lng": guess[1], "roundNumber": duel["currentRoundNumber"]},
                                 OPPONENT)
        time.sleep(0.05)


def test_the_countdown_caps_the_budget_and_a_missed_round_scores_zero(duel_arena, browser, tiny_bundle_dir):
    stop = threading.Event()
    opp = threading.Thread(target=_api_opponent, args=(duel_arena.store, stop), daemon=True)
    opp.start()
    try:
        predictor = StallingPredictor(GeolocatorPredictor(tiny_bundle_dir), browser, stall_rounds=(2,))
        player = make_player(browser, ARENA, duel_arena.url + "/duels", predictor,
                             GameSettings(game="duels", health=6000, round_time=4, max_rounds=3, round_budget=10),
                             None)
        game = player.play_game(1)
    finally:
        stop.set()
        opp.join(5)
    assert game.error is None, game.error
    duel = duel_arena.store.get_duel(game.token)
    assert duel["status"] == "Finished" and len(game.rounds) == 3
    for r in game.rounds:
        # the opponent guessed as the round opened: once the page shows its countdown (one poll later at
        # most) the bot's budget is capped by it, and it re-reads the countdown before each further view
        if r.countdown_s is not None:
            assert r.countdown_s <= 4 and r.budget_s <= r.countdown_s + 1e-6
        _check_duel_round(r, duel, 0)
        if not r.timed_out:  # its guess came within the countdown (the server took it)
            assert r.seconds < 4 + 2
    assert [r.timed_out for r in game.rounds] == [False, True, False]
    assert game.rounds[1].score == 0 and predictor.stalled_s and predictor.stalled_s[0] >= 1.0


def test_duel_api_is_refused_before_the_round_is_over(duel_arena, browser):
    stop = threading.Event()
    opp = threading.Thread(target=_api_opponent, args=(duel_arena.store, stop), daemon=True)
    player = make_player(browser, ARENA, duel_arena.url + "/duels", RandomPredictor(0),
                         GameSettings(game="duels", max_rounds=1), None)
    try:
        gid = player.start_game()
        opp.start()
        player.watcher.wait_round(timeout=20)
        with pytest.raises(HonestyError):
            player.read_game(gid, 1)
    finally:
        stop.set()
        opp.join(5)


@pytest.mark.parametrize("placer", ["ui", "api"])
def test_a_bot_plays_country_streaks(duel_arena, browser, tiny_bundle_dir, placer):
    requests_from_log(browser)
    player = make_player(browser, ARENA, duel_arena.url + "/", GeolocatorPredictor(tiny_bundle_dir),
                         GameSettings(game="streak", mode="nmpz", placer=placer), None)
    games = [player.play_game(i + 1) for i in range(2)]
    for g in games:
        assert g.error is None, g.error
        assert g.rounds and all(r.error is None for r in g.rounds)
        assert [r.correct for r in g.rounds] == [True] * (len(g.rounds) - 1) + [False]
        for r in g.rounds:
            assert r.country_truth and r.correct == (r.country_pick == r.country_truth)
            assert 0 < r.country_prob <= 1 and r.views == 1  # NMPZ: one view
            if placer == "ui":
                assert r.marker_ok is True  # the page showed the picked country
        assert g.total_score == len(g.rounds) - 1 == g.rounds[-1].streak
        state = duel_arena.store.get(g.token)
        assert state["mode"] == "streak" and state["forbidRotating"] is True
        assert [x["streakLocationCode"] for x in state["player"]["guesses"]] == [r.country_pick for r in g.rounds]
    assert non_loopback(requests_from_log(browser)) == []
