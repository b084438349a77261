"""The arena's HTTP API: full games, scoring, hide-answer, validation, concurrency, timer."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from arena_helpers import Client, coordinate_strings, random_map

from bot.arena import serve
from geoloc.geo import geoguessr_score_mapsize, haversine_km


@pytest.fixture
def arena(small_map):
    server = serve(small_map, seed=1)
    yield server
    server.stop()


@pytest.fixture
def hidden_arena(small_map):
    server = serve(small_map, hide_answer=True, seed=2)
    yield server
    server.stop()


def _play(client: Client, token: str, rng, rounds: int) -> list[dict]:
    """Guess uniformly at random each round; returns the game JSON after each guess."""
    states = []
    for r in range(1, rounds + 1):
        status, game = client.call("GET", f"/api/v3/games/{token}")
        assert status == 200 and game["round"] == r and game["state"] == "started"
        assert len(game["rounds"]) == r
        guess = {"token": token, "lat": float(rng.uniform(-80, 80)), "lng": float(rng.uniform(-180, 180)),
                 "timedOut": False, "stepsCount": 0}
        status, game = client.call("POST", f"/api/v3/games/{token}", guess)
        assert status == 200, game
        states.append((guess, game))
    return states


def test_full_game_scores_with_world_formula(arena):
    client = Client(arena.url)
    status, game = client.call("POST", "/api/v3/games", {"map": arena.store.map.name, "forbidMoving": True,
                                                        "forbidRotating": False, "forbidZooming": False,
                                                        "timeLimit": 0, "roundCount": 5})
    assert status == 200 and game["roundCount"] == 5 and game["forbidMoving"] is True
    token = game["token"]
    states = _play(client, token, np.random.default_rng(0), 5)
    final = states[-1][1]
    assert final["state"] == "finished" and final["round"] == 5 and len(final["rounds"]) == 5
    guesses = final["player"]["guesses"]
    assert len(guesses) == 5
    for i, (guess, _) in enumerate(states):
        truth = arena.store.answer(token, i + 1)
        assert (final["rounds"][i]["lat"], final["rounds"][i]["lng"]) == truth  # shown without hide-answer
        d_km = haversine_km(guess["lat"], guess["lng"], *truth)
        assert guesses[i]["distanceInMeters"] == pytest.approx(d_km * 1000, rel=1e-9)
        assert guesses[i]["roundScoreInPoints"] == geoguessr_score_mapsize(d_km)
        assert guesses[i]["timedOut"] is False
    assert int(final["player"]["totalScore"]["amount"]) == sum(g["roundScoreInPoints"] for g in guesses)
    # rounds are distinct places while the map has enough of them
    assert len({(r["lat"], r["lng"]) for r in final["rounds"]}) == 5
    status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": 0, "lng": 0})
    assert status == 409 and err["code"] == "game_finished"


def test_perfect_guess_scores_5000(arena):
    client = Client(arena.url)
    _, game = client.call("POST", "/api/v3/games", {"roundCount": 1})
    truth = arena.store.answer(game["token"], 1)
    _, game = client.call("POST", f"/api/v3/games/{game['token']}", {"lat": truth[0], "lng": truth[1]})
    assert game["player"]["guesses"][0]["roundScoreInPoints"] == 5000
    assert game["player"]["guesses"][0]["distanceInMeters"] == pytest.approx(0.0, abs=1e-6)


def test_hide_answer_leaks_nothing_before_the_guess(hidden_arena):
    client = Client(hidden_arena.url)
    status, game = client.call("POST", "/api/v3/games", {"roundCount": 5})
    token = game["token"]
    rng = np.random.default_rng(3)
    for r in range(1, 6):
        truth = hidden_arena.store.answer(token, r)
        start = len(client.bodies)
        client.raw("GET", "/")
        client.raw("GET", f"/game/{token}")
        client.raw("GET", "/static/game.js")
        _, game = client.call("GET", f"/api/v3/games/{token}")
        current = game["rounds"][r - 1]
        assert "lat" not in current and "lng" not in current
        assert set(current) >= {"panoId", "heading"}
        for h in (0, 90, 180, 270):
            status, _ = client.raw("GET", f"/pano/{current['panoId']}/{h}.jpg")
            assert status == 200
        for body in client.bodies[start:]:
            for needle in coordinate_strings(*truth):
                assert needle not in body, (r, needle)
        _, game = client.call("POST", f"/api/v3/games/{token}", {"lat": float(rng.uniform(-60, 60)), "lng": 10.0})
        # revealed once guessed, and the next round is again hidden
        assert (game["rounds"][r - 1]["lat"], game["rounds"][r - 1]["lng"]) == truth
        if r < 5:
            assert "lat" not in game["rounds"][r] and len(game["rounds"]) == r + 1
            for needle in coordinate_strings(*hidden_arena.store.answer(token, r + 1)):
                assert needle not in client.bodies[-1]


def test_pano_ids_are_fresh_per_game():
    server = serve(random_map(1), hide_answer=True)
    try:
        client = Client(server.url)
        ids = [client.call("POST", "/api/v3/games", {"roundCount": 3})[1]["rounds"][0]["panoId"] for _ in range(4)]
        assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)
    finally:
        server.stop()


@pytest.mark.parametrize("body, code", [
    ({"lat": 91, "lng": 0}, "bad_coordinates"),
    ({"lat": 0, "lng": -180.5}, "bad_coordinates"),
    ({"lat": "10", "lng": 0}, "bad_coordinates"),
    ({"lat": True, "lng": 0}, "bad_coordinates"),
    ({"lat": 10}, "bad_coordinates"),
    ({}, "bad_coordinates"),
    ({"lat": 1, "lng": 1, "timedOut": "no"}, "bad_field"),
    ({"lat": 1, "lng": 1, "stepsCount": -1}, "bad_field"),
    ({"lat": 1, "lng": 1, "token": "someone-else"}, "token_mismatch"),
    ([1, 2], "bad_json"),
])
def test_bad_guesses_are_400(arena, body, code):
    client = Client(arena.url)
    token = client.call("POST", "/api/v3/games", {})[1]["token"]
    status, err = client.call("POST", f"/api/v3/games/{token}", body)
    assert status == 400 and err["code"] == code and err["error"]
    # nothing was recorded
    assert client.call("GET", f"/api/v3/games/{token}")[1]["player"]["guesses"] == []


@pytest.mark.parametrize("raw", [b'{"lat": NaN, "lng": 0}', b'{"lat": Infinity, "lng": 0}', b"{lat: 1}", b"",
                                 b"\xff\xfe", b'"text"'])
def test_nan_and_malformed_json_are_400(arena, raw):
    client = Client(arena.url)
    token = client.call("POST", "/api/v3/games", {})[1]["token"]
    status, body = client.raw("POST", f"/api/v3/games/{token}", raw)
    err = json.loads(body)
    assert status == 400 and err["code"] in ("bad_json", "bad_coordinates")


@pytest.mark.parametrize("body, status, code", [
    ({"roundCount": 0}, 400, "bad_field"),
    ({"roundCount": 2.5}, 400, "bad_field"),
    ({"timeLimit": -1}, 400, "bad_field"),
    ({"forbidMoving": "yes"}, 400, "bad_field"),
    ({"map": "mars"}, 404, "unknown_map"),
    ("x", 400, "bad_json"),
])
def test_bad_new_game_settings(arena, body, status, code):
    got, err = Client(arena.url).call("POST", "/api/v3/games", body)
    assert (got, err["code"]) == (status, code)


def test_unknown_token_route_and_body_size(arena):
    client = Client(arena.url)
    assert client.call("GET", "/api/v3/games/nosuchgame")[0] == 404
    assert client.call("POST", "/api/v3/games/nosuchgame", {"lat": 0, "lng": 0})[1]["code"] == "unknown_game"
    assert client.call("GET", "/nowhere")[0] == 404
    assert client.raw("GET", "/pano/abc/0.jpg")[0] == 404
    status, body = client.raw("POST", "/api/v3/games", b"{" + b" " * 70000 + b"}")
    assert status == 413 and json.loads(body)["code"] == "body_too_large"
    assert client.raw("DELETE", "/api/v3/games")[0] == 405


def test_double_guess_with_round_number_is_409(arena):
    client = Client(arena.url)
    token = client.call("POST", "/api/v3/games", {"roundCount": 3})[1]["token"]
    assert client.call("POST", f"/api/v3/games/{token}", {"lat": 1, "lng": 1, "roundNumber": 1})[0] == 200
    status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": 1, "lng": 1, "roundNumber": 1})
    assert status == 409 and err["code"] == "wrong_round"
    assert len(client.call("GET", f"/api/v3/games/{token}")[1]["player"]["guesses"]) == 1


def test_expired_token_is_410(small_map):
    server = serve(small_map, ttl_s=0.3)
    try:
        client = Client(server.url)
        token = client.call("POST", "/api/v3/games", {})[1]["token"]
        assert client.call("GET", f"/api/v3/games/{token}")[0] == 200
        time.sleep(0.5)
        status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": 0, "lng": 0})
        assert status == 410 and err["code"] == "game_expired"
    finally:
        server.stop()


def test_nmpz_serves_only_the_start_heading_until_the_guess(arena):
    client = Client(arena.url)
    game = client.call("POST", "/api/v3/games", {"forbidMoving": True, "forbidRotating": True,
                                                 "forbidZooming": True, "roundCount": 2})[1]
    pano, start = game["rounds"][0]["panoId"], game["rounds"][0]["heading"]
    for h in (0, 90, 180, 270):
        status, _ = client.raw("GET", f"/pano/{pano}/{h}.jpg")
        assert status == (200 if h == start else 403)
    assert client.raw("GET", f"/pano/{pano}/45.jpg")[0] == 404
    client.call("POST", f"/api/v3/games/{game['token']}", {"lat": 0, "lng": 0})
    assert all(client.raw("GET", f"/pano/{pano}/{h}.jpg")[0] == 200 for h in (0, 90, 180, 270))


def test_timer_enforced_by_the_server(small_map):
    server = serve(small_map, grace_s=0.0)
    try:
        client = Client(server.url)
        token = client.call("POST", "/api/v3/games", {"timeLimit": 1, "roundCount": 2})[1]["token"]
        client.call("GET", f"/api/v3/games/{token}")  # the round's clock starts when it is seen
        time.sleep(1.3)
        truth = server.store.answer(token, 1)
        status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": truth[0], "lng": truth[1]})
        assert status == 409 and err["code"] == "round_timed_out"
        game = client.call("GET", f"/api/v3/games/{token}")[1]
        first = game["player"]["guesses"][0]
        assert first["timedOut"] is True and first["roundScoreInPoints"] == 0 and game["round"] == 2
        # a timely guess in round 2 counts; an explicit timeout scores 0 even on the spot
        truth = server.store.answer(token, 2)
        game = client.call("POST", f"/api/v3/games/{token}",
                           {"lat": truth[0], "lng": truth[1], "timedOut": True})[1]
        assert game["player"]["guesses"][1]["roundScoreInPoints"] == 0 and game["state"] == "finished"
    finally:
        server.stop()


def test_timed_out_without_a_marker(arena):
    client = Client(arena.url)
    token = client.call("POST", "/api/v3/games", {"timeLimit": 10, "roundCount": 1})[1]["token"]
    game = client.call("POST", f"/api/v3/games/{token}", {"timedOut": True})[1]
    g = game["player"]["guesses"][0]
    assert g["lat"] is None and g["distanceInMeters"] is None and g["roundScoreInPoints"] == 0


def test_concurrent_games(arena):
    n_games, results, errors = 8, {}, []

    def player(k: int) -> None:
        try:
            client = Client(arena.url)
            token = client.call("POST", "/api/v3/games", {"roundCount": 5})[1]["token"]
            states = _play(client, token, np.random.default_rng(100 + k), 5)
            results[token] = (states, [arena.store.answer(token, r) for r in range(1, 6)])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=player, args=(k,)) for k in range(n_games)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == n_games
    for states, truths in results.values():
        final = states[-1][1]
        assert final["state"] == "finished"
        expected = [geoguessr_score_mapsize(haversine_km(g["lat"], g["lng"], *t))
                    for (g, _), t in zip(states, truths)]
        assert [g["roundScoreInPoints"] for g in final["player"]["guesses"]] == expected


def test_odd_types_and_lengths_are_4xx_not_crashes(arena):
    client = Client(arena.url)
    assert client.call("POST", "/api/v3/games", {"map": ["x"]})[1]["code"] == "bad_field"
    token = client.call("POST", "/api/v3/games", {"roundCount": 2})[1]["token"]
    status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": 1, "lng": 1, "roundNumber": True})
    assert status == 409 and err["code"] == "wrong_round"
    status, err = client.call("POST", f"/api/v3/games/{token}", {"lat": 1, "lng": 1, "roundNumber": [1]})
    assert status == 409
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(arena.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    conn.putrequest("POST", f"/api/v3/games/{token}")
    conn.putheader("Content-Length", "-5")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 400 and json.loads(resp.read())["code"] == "bad_request"
    conn.close()
    assert client.call("GET", f"/api/v3/games/{token}")[1]["player"]["guesses"] == []


def test_a_server_bug_is_a_json_500_and_serving_goes_on(arena, monkeypatch):
    client = Client(arena.url)
    token = client.call("POST", "/api/v3/games", {})[1]["token"]
    monkeypatch.setattr(arena.store, "get", lambda t: 1 / 0)
    status, err = client.call("GET", f"/api/v3/games/{token}")
    assert status == 500 and err["code"] == "internal" and "ZeroDivisionError" in err["error"]
    assert client.call("POST", f"/api/v3/games/{token}", {"lat": 0, "lng": 0})[0] == 200
