"""Duels in the arena's game store (no HTTP; a fake clock): a hand-computed duel, the countdown, the
pause between rounds, hide-answer in the JSON, views, and every 4xx."""

from __future__ import annotations

import pytest
from arena_helpers import random_map, ref_damage, ref_km, ref_points

from bot.arena import ArenaError, GameStore

ALICE, BOB, EVE = "alice-0001", "bob-00002", "eve-000003"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world():
    clock = Clock()
    store = GameStore(random_map(12), hide_answer=True, clock=clock, seed=4, grace_s=0.5, duel_delay_s=2.0)
    return store, clock


def _started(store, clock, **opts) -> str:
    gid = store.create_duel({"roundTime": 5, **opts}, ALICE)["gameId"]
    store.join_duel(gid, {}, BOB)
    clock.t += store.get_duel(gid, ALICE)["roundOpensInSeconds"]
    return gid


def _err(fn, *args) -> ArenaError:
    with pytest.raises(ArenaError) as info:
        fn(*args)
    return info.value


def test_a_duel_by_hand(world):
    store, clock = world
    gid = _started(store, clock, initialHealth=15000)
    hp = [15000, 15000]
    # degrees of longitude off the place for Alice and Bob; rounds 5 and 6 hit at x1.5 and x2
    offsets = [(2.0, 1.0), (0.1, 0.0), (30.0, 10.0), (5.0, 5.0), (0.2, 60.0), (0.0, 90.0), (0.0, 120.0)]
    for r, (da, db) in enumerate(offsets, start=1):
        lat, lng = store.answer(gid, r)
        a = (lat, (lng + da + 180.0) % 360.0 - 180.0)
        b = (lat, (lng - db + 180.0) % 360.0 - 180.0)
        store.guess_duel(gid, {"lat": a[0], "lng": a[1], "roundNumber": r}, ALICE)
        clock.t += 1.0
        duel = store.guess_duel(gid, {"lat": b[0], "lng": b[1], "roundNumber": r}, BOB)
        pts = [ref_points(ref_km(*a, lat, lng)), ref_points(ref_km(*b, lat, lng))]
        before = list(hp)
        hp = [max(0, hp[0] - ref_damage(pts[0], pts[1], r)), max(0, hp[1] - ref_damage(pts[1], pts[0], r))]
        red, blue = duel["teams"]
        assert [red["health"], blue["health"]] == hp
        res_a, res_b = red["roundResults"][r - 1], blue["roundResults"][r - 1]
        assert (res_a["score"], res_b["score"]) == tuple(pts)
        assert (res_a["healthBefore"], res_a["healthAfter"]) == (before[0], hp[0])
        assert res_a["damageDealt"] == ref_damage(pts[1], pts[0], r)
        assert res_b["damageDealt"] == ref_damage(pts[0], pts[1], r)
        assert res_a["multiplier"] == duel["rounds"][r - 1]["multiplier"] == 1.0 + 0.5 * max(0, r - 4)
        assert res_a["bestGuess"]["distance"] == pytest.approx(ref_km(*a, lat, lng) * 1000, rel=1e-9)
        assert duel["rounds"][r - 1]["panorama"]["lat"] == lat  # revealed once both have guessed
        if 0 in hp:
            assert duel["status"] == "Finished" and duel["result"]["isDraw"] is False
            winner = red if hp[0] else blue
            assert duel["result"]["winningTeamId"] == winner["id"]
            break
        assert duel["currentRoundNumber"] == r + 1
        clock.t += duel["roundOpensInSeconds"]
    else:
        pytest.fail(f"the duel did not end: {hp}")
    assert _err(store.guess_duel, gid, {"lat": 0, "lng": 0, "roundNumber": r + 1}, ALICE).code == "round_over"


def test_countdown_from_the_first_guess_and_a_missed_round(world):
    store, clock = world
    gid = store.create_duel({"roundTime": 5, "roundCountdownDelay": 3}, ALICE)["gameId"]
    duel = store.join_duel(gid, {}, BOB)
    assert duel["roundOpensInSeconds"] == 3 and duel["countdownSecondsLeft"] is None
    assert _err(store.guess_duel, gid, {"lat": 0, "lng": 0, "roundNumber": 1}, ALICE).code == "round_not_started"
    clock.t += 3
    clock.t += 40  # no clock before the first guess: nothing happens however long it takes
    duel = store.get_duel(gid, BOB)
    assert duel["currentRoundNumber"] == 1 and duel["countdownSecondsLeft"] is None
    lat, lng = store.answer(gid, 1)
    duel = store.guess_duel(gid, {"lat": lat, "lng": lng, "roundNumber": 1}, ALICE)
    assert duel["countdownSecondsLeft"] == 5 and duel["rounds"][0]["timerStartTime"]
    assert duel["teams"][0]["hasGuessedCurrentRound"] and not duel["teams"][1]["hasGuessedCurrentRound"]
    clock.t += 5.4  # past the countdown, inside the 0.5 s grace: still accepted
    duel = store.guess_duel(gid, {"lat": 0.0, "lng": 0.0, "roundNumber": 1}, BOB)
    assert duel["teams"][1]["roundResults"][0]["score"] == ref_points(ref_km(0.0, 0.0, lat, lng))
    clock.t += duel["roundOpensInSeconds"]
    # round 2: Bob guesses, Alice does not; after countdown + grace the round ends, Alice scores 0
    lat, lng = store.answer(gid, 2)
    store.guess_duel(gid, {"lat": lat, "lng": lng, "roundNumber": 2}, BOB)
    clock.t += 5.2
    assert store.get_duel(gid, ALICE)["currentRoundNumber"] == 2  # in the grace period
    clock.t += 0.4
    duel = store.get_duel(gid, ALICE)
    assert duel["currentRoundNumber"] == 3
    red, blue = duel["teams"]
    assert red["roundResults"][1]["score"] == 0 and red["roundResults"][1]["bestGuess"] is None
    assert blue["roundResults"][1]["damageDealt"] == 5000  # 5000 - 0 at x1
    assert red["health"] == 6000 - 5000  # round 1 was Alice's (a perfect guess): no loss there
    assert _err(store.guess_duel, gid, {"lat": 1, "lng": 1, "roundNumber": 2}, ALICE).code == "round_over"


def test_the_json_hides_the_round_until_both_have_guessed(world):
    store, clock = world
    gid = _started(store, clock, forbidRotating=True)
    lat, lng = store.answer(gid, 1)
    before = store.get_duel(gid, EVE)
    assert before["you"] is None
    store.guess_duel(gid, {"lat": 10.0, "lng": 20.0, "roundNumber": 1}, ALICE)
    for viewer in (ALICE, BOB, EVE, None):
        duel = store.get_duel(gid, viewer)
        pano = duel["rounds"][0]["panorama"]
        assert not {"lat", "lng", "countryCode"} & set(pano)
        mine = [t for t in duel["teams"] if duel["you"] and t["id"] == duel["you"]["teamId"]]
        for team in duel["teams"]:
            guesses = team["players"][0]["guesses"]
            if mine and team is mine[0] and viewer == ALICE:
                assert guesses == [{"roundNumber": 1, "lat": 10.0, "lng": 20.0, "created": guesses[0]["created"],
                                    "distance": None, "score": None, "isTeamsBestGuessOnRound": True}]
            else:
                assert guesses == []  # the opponent's point is not shown before the round ends
            assert team["roundResults"] == []
        assert str(lat) not in str(duel) and str(lng) not in str(duel)
    # NMPZ: only the start heading until the round is over, even for the player who guessed
    pano, start = before["rounds"][0]["panorama"]["panoId"], before["rounds"][0]["panorama"]["heading"]
    assert store.view(pano, start)
    for h in {0, 90, 180, 270} - {start}:
        assert _err(store.view, pano, h).code == "rotation_forbidden"
    duel = store.guess_duel(gid, {"lat": 0.0, "lng": 0.0, "roundNumber": 1}, BOB)
    assert duel["rounds"][0]["panorama"]["lat"] == lat
    assert duel["rounds"][0]["panorama"]["countryCode"] == store.answer_country(gid, 1)
    assert all(store.view(pano, h) for h in (0, 90, 180, 270))
    # the next round's views are not served before it opens
    nxt = duel["rounds"][1]["panorama"]
    assert _err(store.view, nxt["panoId"], nxt["heading"]).code == "unknown_pano"
    clock.t += duel["roundOpensInSeconds"]
    assert store.view(nxt["panoId"], nxt["heading"])


@pytest.mark.parametrize(("body", "code"), [
    ({"lat": 91, "lng": 0, "roundNumber": 1}, "bad_coordinates"),
    ({"lat": 0, "lng": 180.5, "roundNumber": 1}, "bad_coordinates"),
    ({"lat": "1", "lng": 0, "roundNumber": 1}, "bad_coordinates"),
    ({"lat": 1, "roundNumber": 1}, "bad_coordinates"),
    ({"lat": 1, "lng": 1}, "bad_field"),
    ({"lat": 1, "lng": 1, "roundNumber": "1"}, "bad_field"),
    ({"lat": 1, "lng": 1, "roundNumber": 2}, "wrong_round"),
    ({"lat": 1, "lng": 1, "roundNumber": 0}, "round_over"),
])
def test_bad_guesses(world, body, code):
    store, clock = world
    gid = _started(store, clock)
    assert _err(store.guess_duel, gid, body, ALICE).code == code
    duel = store.get_duel(gid, ALICE)
    assert not duel["teams"][0]["hasGuessedCurrentRound"]  # nothing was recorded


def test_who_may_do_what(world):
    store, clock = world
    gid = store.create_duel({}, ALICE)["gameId"]
    assert _err(store.guess_duel, gid, {"lat": 0, "lng": 0, "roundNumber": 1}, ALICE).code == "not_started"
    assert _err(store.join_duel, gid, {}, ALICE).code == "already_in_game"
    assert _err(store.join_duel, gid, {}, None).status == 401
    assert _err(store.create_duel, {}, "short").status == 401
    store.join_duel(gid, {"nick": "Bob"}, BOB)
    assert store.list_duels() == []  # full duels are not listed
    assert _err(store.join_duel, gid, {}, EVE).code == "duel_full"
    clock.t += 5
    err = _err(store.guess_duel, gid, {"lat": 0, "lng": 0, "roundNumber": 1}, EVE)
    assert (err.status, err.code) == (403, "not_in_game")
    store.guess_duel(gid, {"lat": 0, "lng": 0, "roundNumber": 1}, ALICE)
    assert _err(store.guess_duel, gid, {"lat": 1, "lng": 1, "roundNumber": 1}, ALICE).code == "already_guessed"
    assert _err(store.get_duel, "nosuchduel").status == 404
    token = store.create({})["token"]  # a standard game is not a duel, and the other way round
    assert _err(store.get_duel, token).code == "unknown_game"
    assert _err(store.get, gid).code == "unknown_game"
    assert store.mode_of(gid) == "duels" and store.mode_of(token) == "standard"


@pytest.mark.parametrize("body", [{"roundTime": 0}, {"initialHealth": 0}, {"maxRounds": -1}, {"maxRounds": 1.5},
                                  {"roundCountdownDelay": 61}, {"nick": ""}, {"forbidRotating": "yes"},
                                  {"map": "mars"}, [1]])
def test_bad_duel_settings(world, body):
    store, _ = world
    err = _err(store.create_duel, body, ALICE)
    assert err.status in (400, 404)


def test_round_cap_and_expiry(world):
    store, clock = world
    gid = _started(store, clock, maxRounds=1)
    lat, lng = store.answer(gid, 1)
    store.guess_duel(gid, {"lat": lat, "lng": lng, "roundNumber": 1}, ALICE)
    duel = store.guess_duel(gid, {"lat": lat, "lng": lng, "roundNumber": 1}, BOB)
    assert duel["status"] == "Finished" and duel["result"]["isDraw"] and duel["result"]["winnerStyle"] == "Draw"
    clock.t += store.ttl_s + 1
    assert _err(store.get_duel, gid, ALICE).code == "game_expired"
