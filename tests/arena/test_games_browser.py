"""Headless Chromium plays the arena's duels and country streaks as a person would, through clicks:
join a duel from the lobby, click the map, watch the countdown an opponent's guess starts, the HP
bars, the round results and the winner; start a streak from the home lobby and pick countries on
the map and by name. Every request stays on loopback."""

from __future__ import annotations

import re

import pytest
from arena_helpers import Client, ref_damage, ref_km, ref_points, solid_views

from bot.arena import map_from_arrays, serve
from bot.driver import DriverOptions, make_driver, non_loopback, requests_from_log
from geoloc.geo.mercator import latlon_to_viewport_px

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# places well inside big countries, so a click within a map pixel (0.6 deg) stays in the country
BIG = {"br": (-10.0, -52.0), "au": (-25.0, 134.0), "ru": (62.0, 95.0), "us": (39.0, -100.0), "ca": (56.0, -105.0),
       "cn": (34.0, 103.0), "dz": (28.0, 2.0), "kz": (48.0, 68.0)}


@pytest.fixture(scope="module")
def driver():
    d = make_driver(DriverOptions(window_size=(921, 1000), loopback_only=True, performance_log=True))
    yield d
    d.quit()


@pytest.fixture(scope="module")
def arena():
    pts = list(BIG.values())
    places = map_from_arrays([p[0] for p in pts], [p[1] for p in pts], [solid_views() for _ in pts], name="big")
    server = serve(places, hide_answer=True, seed=7, duel_delay_s=1.0, grace_s=0.3)
    server.store.location_countries()
    yield server
    server.stop()


def _css(driver, sel):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, sel)


def _text(driver, sel) -> str:
    return _css(driver, sel).text


def _click_map_at(driver, lat, lng):
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = _css(driver, "canvas[data-qa=guess-map-canvas]")
    w, h = canvas.size["width"], canvas.size["height"]
    center = float(canvas.get_attribute("data-center-lat")), float(canvas.get_attribute("data-center-lng"))
    px, py = latlon_to_viewport_px(lat, lng, center=center, zoom=float(canvas.get_attribute("data-zoom")),
                                   width=w, height=h)
    ActionChains(driver).move_to_element_with_offset(canvas, round(px - w / 2), round(py - h / 2)).click().perform()
    return float(canvas.get_attribute("data-marker-lat") or "nan"), float(canvas.get_attribute("data-marker-lng") or "nan")


def _view_loaded(driver):
    return driver.execute_script("const i = document.querySelector('[data-qa=panorama] img');"
                                 "return i.complete && i.naturalWidth > 0;")


def test_a_person_joins_and_plays_a_duel_through_clicks(driver, arena):
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 15)
    requests_from_log(driver)
    # the create path: the lobby makes a duel and shows its link while it waits
    driver.get(arena.url + "/duels")
    _css(driver, "button[data-qa=create-duel-button]").click()
    wait.until(lambda d: re.search(r"/duels/[\w-]+$", d.current_url))
    wait.until(lambda d: _css(d, "[data-qa=duel-waiting]").is_displayed())
    assert _text(driver, "[data-qa=duel-link]") == driver.current_url
    # the join path: another player's duel is listed in the lobby and joined with a click
    opp = Client(arena.url, player="opponent-001")
    gid = opp.call("POST", "/api/duels", {"roundTime": 2, "initialHealth": 6000, "nick": "Opp"})[1]["gameId"]
    driver.get(arena.url + "/duels")
    wait.until(lambda d: d.execute_script(
        f"return !!document.querySelector('button[data-qa=join-duel-button][data-game-id=\"{gid}\"]')"))
    _css(driver, f"button[data-qa=join-duel-button][data-game-id='{gid}']").click()
    wait.until(lambda d: d.current_url.endswith(f"/duels/{gid}"))
    hp = [6000, 6000]  # person, opponent
    plan = [("click", (30.0, 10.0)), ("miss", (0.5, 0.0)), ("click", (60.0, 60.0))]
    for r, (what, opp_off) in enumerate(plan, start=1):
        wait.until(lambda d, r=r: _text(d, "[data-qa=round-number]") == str(r) and _view_loaded(d))
        assert _text(driver, "[data-qa=hp-you]") == str(hp[0]) and _text(driver, "[data-qa=hp-opponent]") == str(hp[1])
        assert _text(driver, "[data-qa=duel-multiplier]") == "x1"
        truth = arena.store.answer(gid, r)
        opp_guess = (truth[0] + opp_off[0] if truth[0] + opp_off[0] < 85 else truth[0] - opp_off[0],
                     (truth[1] + opp_off[1] + 180) % 360 - 180)
        if what == "click":
            wait.until(lambda d: _css(d, "canvas[data-qa=guess-map-canvas]").get_attribute("data-ready") == "true")
            mine = _click_map_at(driver, *truth)
            _css(driver, "button[data-qa=perform-guess]").click()
            wait.until(lambda d: "waiting for the opponent" in _text(d, "[data-qa=guess-status]"))
            # the countdown started with this guess
            wait.until(lambda d: re.fullmatch(r"0:0[0-2]", _text(d, "[data-qa=timer]")))
            opp.call("POST", f"/api/duels/{gid}/guess", {"lat": opp_guess[0], "lng": opp_guess[1], "roundNumber": r})
            pts = (ref_points(ref_km(*mine, *truth)), ref_points(ref_km(*opp_guess, *truth)))
        else:  # the opponent guesses first; the person lets the countdown run out
            opp.call("POST", f"/api/duels/{gid}/guess", {"lat": opp_guess[0], "lng": opp_guess[1], "roundNumber": r})
            wait.until(lambda d: _text(d, "[data-qa=opponent-status]") == "opponent has guessed")
            wait.until(lambda d: re.fullmatch(r"0:0[0-2]", _text(d, "[data-qa=timer]")))
            pts = (0, ref_points(ref_km(*opp_guess, *truth)))
        wait.until(lambda d: _css(d, "[data-qa=round-result]").is_displayed())
        hp = [max(0, hp[0] - ref_damage(pts[0], pts[1], r)), max(0, hp[1] - ref_damage(pts[1], pts[0], r))]
        assert _text(driver, "[data-qa=round-result-points]") == str(pts[0])
        assert _text(driver, "[data-qa=opponent-result-points]") == str(pts[1])
        assert _text(driver, "[data-qa=damage-dealt]") == str(ref_damage(pts[1], pts[0], r))
        assert _text(driver, "[data-qa=damage-taken]") == str(ref_damage(pts[0], pts[1], r))
        assert [_text(driver, "[data-qa=result-hp-you]"), _text(driver, "[data-qa=result-hp-opponent]")] == \
            [str(hp[0]), str(hp[1])]
        if what == "miss":
            assert _text(driver, "[data-qa=round-result-distance]") == "no guess"
        if 0 in hp:
            break
    assert hp[1] == 0, hp
    _css(driver, "button[data-qa=close-round-result]").click()
    wait.until(lambda d: _css(d, "[data-qa=game-result]").is_displayed())
    assert _text(driver, "[data-qa=duel-winner]") == "You win"
    duel = opp.call("GET", f"/api/duels/{gid}")[1]
    assert [t["health"] for t in duel["teams"]] == [0, hp[0]] and duel["status"] == "Finished"
    assert _text(driver, "[data-qa=final-hp-you]") == str(hp[0])
    assert non_loopback(requests_from_log(driver)) == []


def test_a_person_plays_a_country_streak_through_clicks(driver, arena):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(driver, 15)
    requests_from_log(driver)
    driver.get(arena.url + "/")
    _css(driver, "a[data-qa=play-country-streak]").click()
    wait.until(lambda d: d.current_url.endswith("/streaks"))
    _css(driver, "button[data-qa=start-streak-game-button]").click()
    wait.until(lambda d: re.search(r"/game/[\w-]+$", d.current_url))
    token = driver.current_url.rsplit("/", 1)[1]
    # round 1: a click on the map picks the country under it
    wait.until(lambda d: _view_loaded(d) and _css(d, "[data-qa=country-select]").get_attribute("data-ready") == "true")
    wait.until(lambda d: _css(d, "canvas[data-qa=guess-map-canvas]").get_attribute("data-ready") == "true")
    assert not _css(driver, "button[data-qa=perform-guess]").is_enabled()
    truth = arena.store.answer_country(token, 1)
    _click_map_at(driver, *BIG[truth])
    wait.until(lambda d: _css(d, "[data-qa=selected-country]").get_attribute("data-code") == truth)
    _css(driver, "button[data-qa=perform-guess]").click()
    wait.until(lambda d: _css(d, "[data-qa=round-result]").is_displayed())
    assert _text(driver, "[data-qa=streak-verdict]") == "Right!"
    assert _css(driver, "[data-qa=streak-answer]").get_attribute("data-code") == truth
    assert _text(driver, "[data-qa=streak]") == "1"
    _css(driver, "button[data-qa=close-round-result]").click()
    # round 2: a wrong country picked by name ends the streak, and the page names the right one
    wait.until(lambda d: _text(d, "[data-qa=round-number]") == "2" and _view_loaded(d))
    truth = arena.store.answer_country(token, 2)
    wrong = "France"
    Select(_css(driver, "[data-qa=country-select]")).select_by_visible_text(wrong)
    assert _text(driver, "[data-qa=selected-country]") == wrong
    _css(driver, "button[data-qa=perform-guess]").click()
    wait.until(lambda d: _css(d, "[data-qa=round-result]").is_displayed())
    assert _text(driver, "[data-qa=streak-verdict]") == "Wrong"
    assert _css(driver, "[data-qa=streak-answer]").get_attribute("data-code") == truth
    assert _css(driver, "[data-qa=streak-pick]").get_attribute("data-code") == "fr"
    _css(driver, "button[data-qa=close-round-result]").click()
    wait.until(lambda d: _css(d, "[data-qa=game-result]").is_displayed())
    assert _text(driver, "[data-qa=final-streak]") == "1"
    assert arena.store.get(token)["player"]["totalStreak"] == 1
    assert non_loopback(requests_from_log(driver)) == []
