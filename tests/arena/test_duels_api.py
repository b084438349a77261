"""Duels over HTTP: the identity cookie, the routes, hide-answer on every route before both players
have guessed, 4xx statuses, and concurrent duels kept apart."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from arena_helpers import Client, coordinate_strings, random_map, ref_damage, ref_km, ref_points

from bot.arena import serve


@pytest.fixture
def arena():
    # 40 places: a duel repeats places only once the map is used up (an earlier round would show them)
    server = serve(random_map(40), hide_answer=True, seed=5, duel_delay_s=0.0, grace_s=0.2)
    server.store.location_countries()  # the first Natural Earth lookup takes seconds on a loaded machine
    yield server
    server.stop()


def test_pages_set_an_identity_cookie_and_api_clients_may_bring_their_own(arena):
    client = Client(arena.url)
    status, page = client.raw("GET", "/duels")
    assert status == 200 and b"create-duel-button" in page
    cookie = client.headers["Set-Cookie"]
    assert cookie.startswith("geoloc_player=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    status, duel = Client(arena.url).call("POST", "/api/duels", {})  # no cookie: one is made for the caller
    assert status == 200 and duel["you"]["seat"] == 0
    mine = Client(arena.url, player="my-own-player-id")
    duel = mine.call("POST", "/api/duels", {})[1]
    assert "Set-Cookie" not in mine.headers
    assert mine.call("GET", f"/api/duels/{duel['gameId']}")[1]["you"]["seat"] == 0
    assert Client(arena.url).call("GET", f"/api/duels/{duel['gameId']}")[1]["you"] is None
    listed = Client(arena.url).call("GET", "/api/duels")[1]
    assert duel["gameId"] in [d["gameId"] for d in listed]


def test_hide_answer_on_every_route_until_both_have_guessed(arena):
    alice, bob, eve = (Client(arena.url, player=p) for p in ("alice-0001", "bob-00002", "eve-000003"))
    gid = alice.call("POST", "/api/duels", {"roundTime": 30, "initialHealth": 2500})[1]["gameId"]
    bob.call("POST", f"/api/duels/{gid}/join", {})
    rng = np.random.default_rng(2024)  # not random_map's seed: its draws would be the places themselves
    for r in range(1, 40):
        truth = arena.store.answer(gid, r)
        code = arena.store.answer_country(gid, r)
        marks = [len(c.bodies) for c in (alice, bob, eve)]
        for c in (alice, bob, eve):
            for path in ("/duels", f"/duels/{gid}", "/static/duel.js", "/static/client.js", "/api/duels"):
                c.raw("GET", path)
        duel = eve.call("GET", f"/api/duels/{gid}")[1]
        pano = duel["rounds"][r - 1]["panorama"]
        for h in (0, 90, 180, 270):
            assert alice.raw("GET", f"/pano/{pano['panoId']}/{h}.jpg")[0] == 200
        first = (alice, bob)[r % 2]
        second = (bob, alice)[r % 2]
        guess1 = (float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180)))
        first.call("POST", f"/api/duels/{gid}/guess", {"lat": guess1[0], "lng": guess1[1], "roundNumber": r})
        for c in (alice, bob, eve):
            c.call("GET", f"/api/duels/{gid}")
        for c, mark in zip((alice, bob, eve), marks, strict=True):
            for body in c.bodies[mark:]:
                for needle in coordinate_strings(*truth):
                    assert needle not in body, (r, needle)
                if body.startswith(b'{"gameId"'):  # a duel JSON: the current round has no place, no country
                    pano = json.loads(body)["rounds"][r - 1]["panorama"]
                    assert not {"lat", "lng", "countryCode"} & set(pano)
        # the second player's view of the duel holds nothing of the first player's guess point
        assert not any(coordinate_strings(*guess1)[0] in b for b in second.bodies[-1:])
        guess2 = (float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180)))
        duel = second.call("POST", f"/api/duels/{gid}/guess", {"lat": guess2[0], "lng": guess2[1], "roundNumber": r})[1]
        assert (duel["rounds"][r - 1]["panorama"]["lat"], duel["rounds"][r - 1]["panorama"]["lng"]) == truth
        assert duel["rounds"][r - 1]["panorama"]["countryCode"] == code
        if duel["status"] == "Finished":
            break
    else:
        pytest.fail("the duel did not finish")


def test_http_errors(arena):
    alice, bob, eve = (Client(arena.url, player=p) for p in ("alice-0001", "bob-00002", "eve-000003"))
    nobody = Client(arena.url)
    gid = alice.call("POST", "/api/duels", {})[1]["gameId"]
    assert alice.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 0, "roundNumber": 1})[1]["code"] == \
        "not_started"
    assert bob.call("POST", f"/api/duels/{gid}/join")[0] == 200  # an empty body is fine
    assert eve.call("POST", f"/api/duels/{gid}/join", {})[0:2][0] == 409
    status, err = eve.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 0, "roundNumber": 1})
    assert (status, err["code"]) == (403, "not_in_game")
    status, err = nobody.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 0, "roundNumber": 1})
    assert (status, err["code"]) == (403, "not_in_game")
    status, err = alice.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 200, "roundNumber": 1})
    assert (status, err["code"]) == (400, "bad_coordinates")
    assert alice.raw("POST", f"/api/duels/{gid}/guess", b"{nope")[0] == 400
    assert alice.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 0, "roundNumber": 1})[0] == 200
    status, err = alice.call("POST", f"/api/duels/{gid}/guess", {"lat": 0, "lng": 0, "roundNumber": 1})
    assert (status, err["code"]) == (409, "already_guessed")
    assert alice.call("GET", f"/api/duels/{gid}/guess")[0] == 405
    assert alice.call("GET", "/api/duels/nosuchduel")[0] == 404
    assert alice.call("POST", "/api/duels/nosuchduel/join", {})[0] == 404
    assert alice.call("GET", f"/api/v3/games/{gid}")[0] == 404  # a duel is not a standard game
    assert nobody.call("POST", f"/api/duels/{gid}/join", {"nick": "x" * 40})[1]["code"] == "bad_field"


def test_concurrent_duels_are_isolated(arena):
    n, results, errors = 4, {}, []

    def duel(k: int) -> None:
        try:
            a, b = Client(arena.url, player=f"player-a-{k:04d}"), Client(arena.url, player=f"player-b-{k:04d}")
            gid = a.call("POST", "/api/duels", {"initialHealth": 3000, "roundTime": 30})[1]["gameId"]
            b.call("POST", f"/api/duels/{gid}/join", {})
            rng = np.random.default_rng(100 + k)
            guesses, truths = [], []
            for r in range(1, 200):
                pair = [(float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180))) for _ in range(2)]
                truths.append(arena.store.answer(gid, r))
                a.call("POST", f"/api/duels/{gid}/guess", {"lat": pair[0][0], "lng": pair[0][1], "roundNumber": r})
                state = b.call("POST", f"/api/duels/{gid}/guess",
                               {"lat": pair[1][0], "lng": pair[1][1], "roundNumber": r})[1]
                guesses.append(pair)
                if state["status"] == "Finished":
                    break
            results[gid] = (guesses, truths, state)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=duel, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == n
    for guesses, truths, state in results.values():
        assert state["status"] == "Finished"
        hp = [3000, 3000]
        for r, ((a, b), truth) in enumerate(zip(guesses, truths, strict=True), start=1):
            pts = [ref_points(ref_km(*a, *truth)), ref_points(ref_km(*b, *truth))]
            hp = [max(0, hp[0] - ref_damage(pts[0], pts[1], r)), max(0, hp[1] - ref_damage(pts[1], pts[0], r))]
            assert [t["roundResults"][r - 1]["score"] for t in state["teams"]] == pts
        assert [t["health"] for t in state["teams"]] == hp and 0 in hp
