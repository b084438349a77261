"""Pure parts of the bot: result-text parsing, site maps, logs and summaries, predictors, the
PIGEON-protocol prediction server, the CLI's user errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
from bot.log import GameRecord, RoundLog, RoundRecord, read_log, summarize, summary_table
from bot.predict_server import serve_predictions
from bot.predictor import HttpPredictor, RandomPredictor, pigeon_payload
from bot.sites import ARENA, GEOGUESSR, SITES, get_site
from bot.watcher import parse_clock, parse_distance_km, parse_number, parse_round
from geoloc.errors import GeolocError
from geoloc.serve.payloads import RequestError
from geoloc.serve.payloads import pigeon_views as decode_views


@pytest.mark.parametrize(("text", "want"), [("1 / 5", (1, 5)), ("Round 3/5", (3, 5)), ("  10 /  10 ", (10, 10)),
                                             ("", None), ("round", None), ("7", (7, None)), ("Round 12", (12, None))])
def test_parse_round(text, want):
    assert parse_round(text) == want


@pytest.mark.parametrize(("text", "s"), [("0:05", 5.0), ("1:30", 90.0), ("Countdown 12:00", 720.0), ("--:--", None),
                                         ("", None)])
def test_parse_clock(text, s):
    assert parse_clock(text) == s


@pytest.mark.parametrize(("text", "km"), [("1,234 km", 1234.0), ("12.5 km", 12.5), ("523 m", 0.523),
                                          ("4\u202f651 km", 4651.0), ("10 miles", 16.09344), ("-", None)])
def test_parse_distance(text, km):
    got = parse_distance_km(text)
    assert got == (pytest.approx(km) if km is not None else None)


def test_parse_number_points():
    assert parse_number("4,651 points") == 4651.0
    assert parse_number("0 pts") == 0.0


def test_sites_share_roles_and_find_tokens():
    assert set(ARENA.selectors) == set(GEOGUESSR.selectors)
    for site in SITES.values():
        assert site.game_token("http://127.0.0.1:8000/game/AbC123") == "AbC123"
        assert site.game_token("http://127.0.0.1:8000/") is None
        assert site.api_url("http://127.0.0.1:8000/game/x", "tok") == "http://127.0.0.1:8000/api/v3/games/tok"
    assert ARENA.duel_id("http://127.0.0.1:8000/duels/AbC-1") == "AbC-1" and ARENA.duel_id("http://x/duels") is None
    assert GEOGUESSR.duel_id("https://www.geoguessr.com/team-duels/xyz") == "xyz"
    assert ARENA.duel_url("http://127.0.0.1:8000/duels/a", "a", "/guess") == "http://127.0.0.1:8000/api/duels/a/guess"
    # PIGEON posts GeoGuessr duel guesses to the game server, whatever page it is on
    assert GEOGUESSR.duel_url("https://www.geoguessr.com/duels/a", "a", "/guess") == \
        "https://game-server.geoguessr.com/api/duels/a/guess"
    assert ARENA.page_url("http://127.0.0.1:8000/game/x", "/streaks") == "http://127.0.0.1:8000/streaks"
    with pytest.raises(GeolocError, match="unknown site"):
        get_site("bing")
    with pytest.raises(GeolocError, match="no selector"):
        ARENA.sel("nope")


def _rec(game, rnd, score, km, secs, timed_out=False):
    return RoundRecord(game=game, token="t", site="arena", mode="nm", round=rnd, rounds=5, score=score,
                       distance_km=km, seconds=secs, timed_out=timed_out)


def test_log_round_trip_and_summary(tmp_path):
    log = RoundLog(tmp_path / "sub" / "log.jsonl")
    games = [GameRecord(1, "a", "nm", [_rec(1, i + 1, 1000, 100.0 * (i + 1), 2.0) for i in range(5)], 5000),
             GameRecord(2, "b", "nm", [_rec(2, 1, 0, 9000.0, 4.0, True)], None, error="boom")]
    for g in games:
        for r in g.rounds:
            log.write(r)
    back = read_log(tmp_path / "sub" / "log.jsonl")
    assert [b["round"] for b in back] == [1, 2, 3, 4, 5, 1]
    assert back[0] == games[0].rounds[0].to_dict()
    s = summarize(games)
    assert s["games"] == 2 and s["complete_games"] == 1 and s["mean_game_score"] == 5000
    assert s["timeouts"] == 1 and s["game_errors"] == 1 and s["rounds"] == 6
    assert s["median_km"] == pytest.approx(np.median([100, 200, 300, 400, 500, 9000]))
    assert s["seconds_per_round"] == pytest.approx((5 * 2 + 4) / 6)
    assert games[1].score == 0  # no total from the site: sum of round scores
    table = summary_table(games)
    assert table.row_count == 3
    cells = {c.header: list(c.cells) for c in table.columns}
    assert cells["median km"] == ["300", "9000", "350"] and cells["timeouts"] == ["0", "1", "1"]
    assert cells["s/round"] == ["2.0", "4.0", f"{(5 * 2 + 4) / 6:.1f}"]


def test_random_predictor_is_uniform_on_the_sphere():
    p = RandomPredictor(seed=1)
    pts = np.array([(g.lat, g.lng) for g in (p.predict([]) for _ in range(4000))])
    # uniform on the sphere: sin(lat) uniform in [-1, 1], lng uniform in [-180, 180)
    s = np.sin(np.radians(pts[:, 0]))
    assert abs(s.mean()) < 0.05 and abs((s**2).mean() - 1 / 3) < 0.03
    assert pts[:, 1].min() >= -180 and pts[:, 1].max() < 180 and abs(pts[:, 1].mean()) < 8
    assert RandomPredictor(seed=1).predict([]) == RandomPredictor(seed=1).predict([])


def test_country_predictors():
    from bot.predictor import ConstantCountryPredictor
    from geoloc.geo.countries import country_names

    names = country_names()
    p = RandomPredictor(seed=3)
    first = p.predict_country([])
    assert first.probability == pytest.approx(1 / len(names))
    assert RandomPredictor(seed=3).predict_country([]).code == first.code  # seeded
    many = [p.predict_country([]).code for _ in range(3000)]
    assert set(many) <= set(names) and len(set(many)) > 0.9 * len(names)  # uniform over ~250 codes
    const = ConstantCountryPredictor("US")
    assert const.predict_country([]).code == "us" and const.name == "always:us"
    with pytest.raises(GeolocError):
        const.predict([])
    with pytest.raises(GeolocError, match="unknown country"):
        ConstantCountryPredictor("xx")


def test_pigeon_payload_round_trip():
    imgs = [Image.new("RGB", (16, 8), (i * 40, 0, 0)) for i in range(4)]
    body = pigeon_payload(imgs, gameID="g")
    assert list(body) == ["gameID", "image", "image_2", "image_3", "image_4"]
    views = decode_views(body)
    assert len(views) == 4
    from io import BytesIO

    back = [Image.open(BytesIO(v)) for v in views]
    assert [b.size for b in back] == [(16, 8)] * 4
    assert [b.getpixel((4, 4))[0] for b in back] == pytest.approx([0, 40, 80, 120], abs=6)
    with pytest.raises(RequestError, match="no 'image'"):
        decode_views({})
    with pytest.raises(RequestError, match="not valid base64"):
        decode_views({"image": "data:image/jpeg;base64,@@@"})


def test_http_predictor_equals_in_process_model(tiny_bundle_dir):
    from bot.predictor import GeolocatorPredictor

    rng = np.random.default_rng(0)
    views = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(4)]
    local = GeolocatorPredictor(tiny_bundle_dir)
    srv = serve_predictions(tiny_bundle_dir)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        remote = HttpPredictor(srv.url).predict(views)
        # the server decodes JPEG-compressed views: same model, nearly the same input
        jpeg_views = [Image.open(__import__("io").BytesIO(b)) for b in decode_views(pigeon_payload(views))]
        want = local.predict(jpeg_views)
        assert (remote.lat, remote.lng) == pytest.approx((want.lat, want.lng), abs=1e-4)
        one = HttpPredictor(srv.url).predict(views[:1])
        assert math.isfinite(one.lat) and -90 <= one.lat <= 90
        import urllib.error
        import urllib.request

        req = urllib.request.Request(srv.url, data=b'{"image": 3}', headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400 and "base64" in json.loads(e.value.read())["message"]
    finally:
        srv.stop()
    with pytest.raises(GeolocError, match="prediction server"):
        HttpPredictor(srv.url, timeout=2).predict(views)


def test_cli_user_errors():
    r = CliRunner().invoke(app, ["play", "--url", "http://127.0.0.1:9/", "--site", "bing", "--random", "0"])
    assert r.exit_code != 0 and isinstance(r.exception, GeolocError) and "unknown site" in str(r.exception)
    r = CliRunner().invoke(app, ["play", "--url", "http://127.0.0.1:9/", "--mode", "fast", "--random", "0"])
    assert isinstance(r.exception, GeolocError) and "--mode" in str(r.exception)
    r = CliRunner().invoke(app, ["play", "--url", "u", "--model", "/nonexistent/bundle"])
    assert isinstance(r.exception, GeolocError) and "no such bundle" in str(r.exception)
    r = CliRunner().invoke(app, ["play", "--url", "u", "--mode", "duels", "--movement", "fly", "--random", "0"])
    assert isinstance(r.exception, GeolocError) and "--movement" in str(r.exception)
    r = CliRunner().invoke(app, ["play", "--help"])
    assert r.exit_code == 0 and "--headless" in r.output and "--round-budget" in r.output


def test_round_lines_per_kind():
    from bot.cli import round_line

    std = RoundRecord(game=1, token="t", site="arena", mode="nm", round=2, rounds=5, score=4000, distance_km=100.0,
                      seconds=1.0)
    assert round_line(std).startswith("game 1 round 2/5: score 4000 distance 100 km")
    duel = RoundRecord(game=1, token="t", site="arena", mode="duels", round=5, rounds=0, score=4000, opp_score=3000,
                       multiplier=1.5, hp_before=6000, hp_after=6000, opp_hp_before=6000, opp_hp_after=4500,
                       views=2, budget_s=3.0, seconds=2.0, distance_km=10.0)
    assert "round 5 x1.5: 4000 vs 3000 points" in round_line(duel) and "(opponent 6000->4500)" in round_line(duel)
    streak = RoundRecord(game=1, token="t", site="arena", mode="streak", round=3, rounds=0, country_pick="fr",
                         country_prob=0.5, country_truth="fr", correct=True, streak=3, seconds=1.0)
    assert "picked fr (0.50), was fr: right, streak 3" in round_line(streak)
