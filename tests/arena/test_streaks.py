"""Country streaks in the arena: the streak rules, country truth from Natural Earth, picks by code or
by map point, hide-answer, timeouts, the country routes."""

from __future__ import annotations

import pytest
from arena_helpers import Client, coordinate_strings, solid_views

from bot.arena import ArenaError, GameStore, map_from_arrays, serve

CAPITALS = {"fr": (48.8566, 2.3522), "au": (-35.2809, 149.13), "br": (-15.7939, -47.8828),
            "ke": (-1.2921, 36.8219), "jp": (35.6762, 139.6503)}
OCEAN = [(0.0, -30.0), (-40.0, -120.0), (30.0, -45.0)]


@pytest.fixture(scope="module")
def places():
    pts = list(CAPITALS.values()) + OCEAN
    return map_from_arrays([p[0] for p in pts], [p[1] for p in pts], [solid_views() for _ in pts], name="capitals")


@pytest.fixture
def store(places):
    return GameStore(places, hide_answer=True, seed=0)


def test_country_truth_is_natural_earth(store):
    assert list(store.location_countries()) == [*CAPITALS, "", "", ""]


def test_right_picks_extend_the_streak_and_a_wrong_one_ends_it(store):
    game = store.create_streak({"streakType": "CountryStreak"})
    token = game["token"]
    assert (game["mode"], game["streakType"], game["roundCount"], game["player"]["totalStreak"]) == \
           ("streak", "countrystreak", 1, 0)
    seen = []
    for r in range(1, 5):
        truth = store.answer_country(token, r)
        assert truth in CAPITALS  # ocean places are never drawn
        seen.append(truth)
        # any case is accepted; by point for even rounds (the country under it is the pick)
        body = {"streakLocationCode": truth.upper(), "roundNumber": r} if r % 2 else \
            {"lat": CAPITALS[truth][0], "lng": CAPITALS[truth][1], "roundNumber": r}
        game = store.guess(token, body)
        assert game["state"] == "started" and game["player"]["totalStreak"] == r
        assert game["round"] == game["roundCount"] == r + 1
        g = game["player"]["guesses"][r - 1]
        assert (g["streakLocationCode"], g["isCorrect"]) == (truth, True)
        assert game["rounds"][r - 1]["streakLocationCode"] == truth
        assert game["rounds"][r]["streakLocationCode"] is None and "lat" not in game["rounds"][r]
    assert len(set(seen)) == 4  # places are not repeated while the map has unused ones
    truth = store.answer_country(token, 5)
    wrong = next(c for c in CAPITALS if c != truth)
    game = store.guess(token, {"streakLocationCode": wrong})
    assert game["state"] == "finished" and game["player"]["totalStreak"] == 4 and game["roundCount"] == 5
    g = game["player"]["guesses"][4]
    assert (g["streakLocationCode"], g["isCorrect"]) == (wrong, False)
    assert game["rounds"][4]["streakLocationCode"] == truth
    with pytest.raises(ArenaError) as err:
        store.guess(token, {"streakLocationCode": truth})
    assert err.value.code == "game_finished"


@pytest.mark.parametrize(("body", "code"), [({"streakLocationCode": "zz"}, "bad_country"),
                                            ({"streakLocationCode": 5}, "bad_country"),
                                            ({"lat": 0.0, "lng": -30.0}, "no_country"),
                                            ({"lat": 95.0, "lng": 0.0}, "bad_coordinates"),
                                            ({}, "bad_coordinates")])
def test_bad_picks_are_400_and_record_nothing(store, body, code):
    token = store.create_streak({})["token"]
    with pytest.raises(ArenaError) as err:
        store.guess(token, body)
    assert (err.value.status, err.value.code) == (400, code)
    assert store.get(token)["player"]["guesses"] == []


def test_timeouts_end_the_streak(places):
    clock = [0.0]
    store = GameStore(places, hide_answer=True, seed=1, grace_s=0.0, clock=lambda: clock[0])
    token = store.create_streak({"timeLimit": 5})["token"]
    store.get(token)
    clock[0] += 6
    with pytest.raises(ArenaError) as err:
        store.guess(token, {"streakLocationCode": store.answer_country(token, 1)})
    assert err.value.code == "round_timed_out"
    game = store.get(token)
    assert game["state"] == "finished" and game["player"]["guesses"][0]["isCorrect"] is False
    token = store.create_streak({})["token"]
    game = store.guess(token, {"timedOut": True})
    assert game["state"] == "finished" and game["player"]["guesses"][0]["streakLocationCode"] is None


def test_a_map_without_countries_cannot_stream(places):
    sea = map_from_arrays([p[0] for p in OCEAN], [p[1] for p in OCEAN], [solid_views() for _ in OCEAN])
    with pytest.raises(ArenaError) as err:
        GameStore(sea).create_streak({})
    assert err.value.code == "no_countries"
    with pytest.raises(ArenaError):
        GameStore(sea).create_streak({"streakType": "RegionStreak"})


def test_http_routes_and_hide_answer(places):
    with serve(places, hide_answer=True, seed=2) as arena:
        client = Client(arena.url)
        status, countries = client.call("GET", "/api/countries")
        assert status == 200 and {"code": "fr", "name": "France"} in countries
        assert len({c["code"] for c in countries}) == len(countries) > 200
        assert client.call("GET", "/api/countries/at?lat=48.85&lng=2.35")[1] == {"code": "fr", "name": "France"}
        assert client.call("GET", "/api/countries/at?lat=0&lng=-30")[1]["code"] == "no_country"
        assert client.call("GET", "/api/countries/at?lat=x&lng=1")[0] == 400
        assert client.call("GET", "/api/countries/at?lat=91&lng=1")[0] == 400
        assert b"start-streak-game-button" in client.raw("GET", "/streaks")[1]
        assert b"play-country-streak" in client.raw("GET", "/")[1]
        status, game = client.call("POST", "/api/v3/games/streak", {"forbidRotating": True})
        token = game["token"]
        for r in range(1, 4):
            truth_code = arena.store.answer_country(token, r)
            truth = arena.store.answer(token, r)
            start = len(client.bodies)
            page = client.raw("GET", f"/game/{token}")[1]
            assert b'data-mode="streak"' in page and b"country-select" in page
            for path in ("/static/game.js", "/static/countrypick.js", "/streaks"):
                client.raw("GET", path)
            game = client.call("GET", f"/api/v3/games/{token}")[1]
            pano = game["rounds"][r - 1]
            client.raw("GET", f"/pano/{pano['panoId']}/{pano['heading']}.jpg")
            for body in client.bodies[start:]:
                for needle in coordinate_strings(*truth):
                    assert needle not in body
            assert f'"{truth_code}"'.encode() not in client.bodies[start + 4]  # the game JSON
            assert pano["streakLocationCode"] is None
            game = client.call("POST", f"/api/v3/games/{token}", {"token": token, "streakLocationCode": truth_code})[1]
            assert game["rounds"][r - 1]["streakLocationCode"] == truth_code
        assert client.call("GET", "/api/countries")[1] == countries  # the list never depends on a game
