"""GameStore rules without HTTP: a fake clock drives the timer and the expiry."""

from __future__ import annotations

import numpy as np
import pytest
from arena_helpers import random_map

from bot.arena import ArenaError, GameStore
from geoloc.geo import geoguessr_score_mapsize, haversine_km


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _store(**kw):
    clock = FakeClock()
    return GameStore(random_map(6), clock=clock, seed=0, **kw), clock


def test_round_draws_are_distinct_until_the_map_runs_out():
    store, _ = _store()
    for count, distinct in ((6, 6), (4, 4)):
        game = store.create({"roundCount": count})
        assert len({r.loc_index for r in store._games[game["token"]].rounds}) == distinct
    game = store.create({"roundCount": 20})  # more rounds than places: repeats allowed
    assert len(store._games[game["token"]].rounds) == 20


def test_scores_match_the_vectorised_formula():
    store, _ = _store()
    token = store.create({"roundCount": 6})["token"]
    rng = np.random.default_rng(1)
    guesses = rng.uniform([-80, -180], [80, 180], (6, 2))
    for lat, lng in guesses:
        game = store.guess(token, {"lat": float(lat), "lng": float(lng)})
    truth = np.array([store.answer(token, r) for r in range(1, 7)])
    d = haversine_km(guesses[:, 0], guesses[:, 1], truth[:, 0], truth[:, 1])
    assert [g["roundScoreInPoints"] for g in game["player"]["guesses"]] == list(geoguessr_score_mapsize(d))
    assert game["player"]["totalDistanceInMeters"] == pytest.approx(d.sum() * 1000)


def test_clock_starts_when_the_round_is_seen_and_late_guess_times_out():
    store, clock = _store(grace_s=1.0)
    token = store.create({"timeLimit": 10, "roundCount": 3})["token"]
    clock.t += 500  # time before the round is first seen does not count
    store.get(token)
    clock.t += 10.9  # within limit + grace
    assert store.guess(token, {"lat": 0, "lng": 0})["player"]["guesses"][0]["timedOut"] is False
    store.get(token)
    clock.t += 11.1
    with pytest.raises(ArenaError) as err:
        store.guess(token, {"lat": 0, "lng": 0})
    assert err.value.status == 409 and err.value.code == "round_timed_out"
    game = store.get(token)
    assert game["player"]["guesses"][1]["timedOut"] is True and game["round"] == 3
    # a view fetch also starts the clock
    pano = game["rounds"][2]["panoId"]
    store.view(pano, game["rounds"][2]["heading"])
    clock.t += 12
    with pytest.raises(ArenaError):
        store.guess(token, {"lat": 0, "lng": 0})


def test_no_time_limit_never_times_out():
    store, clock = _store()
    token = store.create({"roundCount": 1})["token"]
    store.get(token)
    clock.t += 3000  # under the 1-hour expiry
    assert store.guess(token, {"lat": 0, "lng": 0})["player"]["guesses"][0]["timedOut"] is False


def test_expiry_after_ttl_and_views_of_expired_games():
    store, clock = _store(ttl_s=60)
    token = store.create({})["token"]
    pano = store.get(token)["rounds"][0]["panoId"]
    clock.t += 59
    store.get(token)  # access refreshes the game
    clock.t += 61
    with pytest.raises(ArenaError) as err:
        store.get(token)
    assert err.value.status == 410
    with pytest.raises(ArenaError) as err:
        store.view(pano, 0)
    assert err.value.status == 404
    assert len(store) == 0


def test_future_rounds_views_are_not_served():
    store, _ = _store()
    token = store.create({"roundCount": 3})["token"]
    future = store._games[token].rounds[2].pano_id
    with pytest.raises(ArenaError) as err:
        store.view(future, 0)
    assert err.value.status == 404


def test_hidden_round_has_no_coordinates_until_guessed():
    store, _ = _store(hide_answer=True)
    game = store.create({"roundCount": 2})
    assert "lat" not in game["rounds"][0] and len(game["rounds"]) == 1
    game = store.guess(game["token"], {"lat": 1.0, "lng": 2.0})
    assert "lat" in game["rounds"][0] and "lat" not in game["rounds"][1]
