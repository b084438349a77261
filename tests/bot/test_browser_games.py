"""Headless Chromium plays full games against the arena in hide-answer mode (Debian chromium +
chromedriver, never a download): each mode, the API placer, slow pages, stale elements, a round
that times out. Every request must stay on loopback."""

from __future__ import annotations

import pytest
from bot_fakes import DelayProxy, StaleDriver, StallingPredictor

from bot.log import RoundLog, read_log
from bot.player import GameSettings, HonestyError, Player
from bot.predictor import GeolocatorPredictor, RandomPredictor
from bot.sites import ARENA
from geoloc.geo import haversine_km
from geoloc.geo.score import geoguessr_score_mapsize

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PX_DEG = 360.0 / 600.0  # the arena's 600 px world map: degrees of longitude per CSS px


def _check_round(r, views_expected, result_screen=True):
    assert r.error is None, r.error
    assert not r.timed_out
    assert r.views == views_expected
    if views_expected == 4:
        assert sorted(r.headings) == [0.0, 90.0, 180.0, 270.0]
    # the truth was hidden before the guess and is revealed after it
    assert r.truth_lat is not None and r.truth_lng is not None
    # the site recorded the point the bot meant, up to the map's pixel size
    assert r.server_guess_lat == pytest.approx(r.placed_lat, abs=1e-6)
    assert r.server_guess_lng == pytest.approx(r.placed_lng, abs=1e-6)
    assert abs(r.placed_lng - r.guess_lng) <= PX_DEG
    d = haversine_km(r.server_guess_lat, r.server_guess_lng, r.truth_lat, r.truth_lng)
    assert r.distance_km == pytest.approx(float(d), rel=1e-6, abs=1e-3)
    assert r.score == geoguessr_score_mapsize(r.distance_km)
    if result_screen:  # what the result screen said equals the API's record
        assert r.screen_points == r.score
        assert r.screen_distance_km == pytest.approx(r.distance_km, abs=0.06)
    assert r.seconds > 0


@pytest.mark.parametrize(("mode", "placer", "views"),
                         [("moving", "ui", 4), ("nm", "ui", 4), ("nmpz", "ui", 1), ("nmpz", "api", 1)])
def test_full_game_each_mode(arena, browser, requests_seen, tiny_bundle_dir, tmp_path, mode, placer, views):
    log = RoundLog(tmp_path / "rounds.jsonl")
    player = Player(browser, ARENA, arena.url + "/", GeolocatorPredictor(tiny_bundle_dir),
                    GameSettings(mode=mode, placer=placer), log=log, timeout=20)
    game = player.play_game(1)
    assert game.error is None, game.error
    assert [r.round for r in game.rounds] == [1, 2, 3, 4, 5]
    for r in game.rounds:
        _check_round(r, views, result_screen=placer == "ui")
        if placer == "api":  # no click: the model's point goes in as it is
            assert (r.placed_lat, r.placed_lng) == (r.guess_lat, r.guess_lng)
        else:
            assert r.marker_ok is True
    assert game.total_score is not None and float(game.total_score) == sum(r.score for r in game.rounds)
    assert [rec["round"] for rec in read_log(tmp_path / "rounds.jsonl")] == [1, 2, 3, 4, 5]
    served = arena.store.games[game.token] if hasattr(arena.store, "games") else None
    if served is not None:  # the server's record of this game agrees with the bot's log
        assert served.forbid_rotating == (mode == "nmpz")
    urls = requests_seen()
    assert any("/pano/" in u for u in urls)
    from bot.driver import non_loopback

    assert non_loopback(urls) == []


def test_bot_refuses_to_read_the_api_before_its_guess(arena, browser):
    player = Player(browser, ARENA, arena.url + "/", RandomPredictor(0), GameSettings(mode="nmpz"))
    token = player.start_game()
    player.watcher.wait_round()
    with pytest.raises(HonestyError):
        player.read_game(token, 1)


def test_slow_pages_and_stale_elements_are_survived(arena, browser, requests_seen):
    proxy = DelayProxy(arena.url, max_delay_s=0.5, seed=1)
    roles = ("guess_canvas", "guess_button", "compass", "next_round", "panorama", "round_number")
    flaky = StaleDriver(browser, [ARENA.sel(r) for r in roles])
    try:
        player = Player(flaky, ARENA, proxy.url + "/", RandomPredictor(1), GameSettings(mode="nm", rounds=3),
                        timeout=30)
        game = player.play_game(1)
    finally:
        proxy.stop()
    assert game.error is None, game.error
    assert len(game.rounds) == 3
    for r in game.rounds:
        _check_round(r, 4)
    assert sorted(flaky.injected) == sorted(ARENA.sel(r) for r in roles)
    assert player.page.stats["stale"] >= len(roles)  # each one hit and recovered
    assert proxy.delayed > 20
    from bot.driver import non_loopback

    assert non_loopback(requests_seen()) == []


def test_round_timeout_is_survived(arena, browser):
    slow = StallingPredictor(RandomPredictor(2), browser, stall_rounds=(2,))
    player = Player(browser, ARENA, arena.url + "/", slow, GameSettings(mode="nmpz", time_limit=5, rounds=3),
                    timeout=20)
    game = player.play_game(1)
    assert game.error is None, game.error
    assert [r.round for r in game.rounds] == [1, 2, 3]
    timed = [r.round for r in game.rounds if r.timed_out]
    assert timed == [2]
    r2 = game.rounds[1]
    assert r2.score == 0 and r2.placed_lat is None and r2.truth_lat is not None
    assert 3.0 < slow.stalled_s[0] < 30.0
    for r in game.rounds:
        if r.round != 2:
            _check_round(r, 1)
    assert float(game.total_score) == sum(r.score for r in game.rounds)


def test_cli_plays_games_and_writes_the_log(arena, tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    log = tmp_path / "cli.jsonl"
    r = CliRunner().invoke(app, ["play", "--site", "arena", "--url", arena.url + "/", "--games", "2",
                                 "--mode", "nmpz", "--rounds", "1", "--headless", "--random", "4",
                                 "--loopback-only", "--log", str(log)])
    assert r.exit_code == 0, (r.output, r.exception)
    recs = read_log(log)
    assert [(x["game"], x["round"]) for x in recs] == [(1, 1), (2, 1)]
    assert all(x["views"] == 1 and x["truth_lat"] is not None and x["error"] is None for x in recs)
    assert "mean" in r.output and "nmpz" in r.output


def test_cookie_file_login(arena, browser, tmp_path):
    import json

    from bot.driver import load_cookies
    from geoloc.errors import InputFileError

    f = tmp_path / "cookies.json"
    f.write_text(json.dumps([{"name": "_ncfa", "value": "abc123", "domain": "127.0.0.1", "path": "/"},
                             {"name": "devicetoken", "value": "d1"}]))
    assert load_cookies(browser, f, arena.url + "/") == 2
    assert browser.get_cookie("_ncfa")["value"] == "abc123"
    assert browser.get_cookie("devicetoken")["value"] == "d1"
    # the page's own requests carry them (the guess API would see the login)
    assert "_ncfa=abc123" in browser.execute_script("return document.cookie")
    browser.delete_all_cookies()
    f.write_text('{"name": "x"}')
    with pytest.raises(InputFileError, match="JSON list"):
        load_cookies(browser, f, arena.url + "/")
    f.write_text("not json")
    with pytest.raises(InputFileError, match="cannot read cookies"):
        load_cookies(browser, f, arena.url + "/")


GEOGUESSR_LIKE = """<html><body><div class="game-layout">
<div class="game-layout__panorama"><div data-qa="panorama" id="panorama-container"><canvas width=50 height=50>
</canvas></div></div>
<div class="game_hud__x1"><div data-qa="round-number">2 / 5</div></div>
<div class="guess-map_canvasContainer__Ab12"><div class="guess-map_canvas__cvpqv" style="width:40px;height:40px">
</div></div>
<button data-qa="perform-guess">Guess</button>
<div class="result-layout_root__Zz9"><div class="round-result_distance__q1">1,234 km</div>
<div class="round-result_points__q2">4,651 points</div>
<button data-qa="close-round-result">Next</button></div></div></body></html>"""


def test_site_selectors_are_valid_and_match_geoguessr_markup(browser):
    from bot.page import Page
    from bot.sites import GEOGUESSR, SITES
    from bot.watcher import RoundWatcher

    browser.get("data:text/html;charset=utf-8," + __import__("urllib.parse").parse.quote(GEOGUESSR_LIKE))
    for site in SITES.values():  # every selector parses (querySelectorAll throws on bad CSS)
        for sel in (*site.selectors.values(), *site.hide_selectors, *site.mode_selectors.values()):
            browser.execute_script("document.querySelectorAll(arguments[0]);", sel)
    page = Page(browser, GEOGUESSR, timeout=2)
    v = page.visible("panorama", "guess_map", "guess_canvas", "guess_button", "round_result", "next_round")
    assert all(v.values()), v
    w = RoundWatcher(page)
    assert w.round_info().number == 2 and w.state() == "result"
    assert w.result_text() == type(w.result_text())(1234.0, 4651.0)
