"""Duel the model: the pure round logic against a hand-computed reference, and the page through AppTest
(the model's guess hidden until the person's, HP bars, multiplier, the end summary)."""

from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from app import duel as rules
from app.cli import APP_SCRIPT

R_KM = 6371.0088


def ref_km(a, b):
    """Textbook haversine (float64), independent of geoloc.geo."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_KM * math.asin(math.sqrt(h))


def ref_points(km):
    return 0 if km is None else round(5000 * math.exp(-10 * km / 14916.862))


def test_rounds_follow_the_duel_rules_by_hand():
    duel = rules.new_duel(seed=5, initial_health=20000)
    truth = (48.8566, 2.3522)  # Paris
    plays = [((48.85, 2.35), (52.52, 13.40)),      # you near, model in Berlin
             ((40.71, -74.0), (48.86, 2.35)),      # you in New York, model near
             (None, (51.5, -0.12)),                # no guess from you
             ((48.8566, 2.3522), (48.8566, 2.3522)),  # equal: no damage
             ((45.76, 4.84), (-33.9, 151.2))]      # round 5: multiplier 1.5
    hp = [20000, 20000]
    for number, (you, model) in enumerate(plays, start=1):
        r = rules.play_round(duel, truth, you, model)
        you_km = None if you is None else ref_km(you, truth)
        model_km = ref_km(model, truth)
        pts = (ref_points(you_km), ref_points(model_km))
        mult = 1.0 if number <= 4 else 1.5
        hit = math.floor(abs(pts[0] - pts[1]) * mult + 0.5)
        if pts[0] < pts[1]:
            hp[0] = max(0, hp[0] - hit)
        elif pts[1] < pts[0]:
            hp[1] = max(0, hp[1] - hit)
        assert r.outcome.number == number and r.outcome.multiplier == mult
        assert r.outcome.scores == pts
        assert r.you_km == (None if you is None else pytest.approx(you_km, rel=1e-9))
        assert r.model_km == pytest.approx(model_km, rel=1e-9)
        assert r.outcome.health_after == tuple(hp)
    s = rules.summary(duel)
    assert s["rounds"] == 5 and s["health"] == {"you": hp[0], "model": hp[1]}
    assert s["rounds_won"] == {"you": 2, "model": 2}  # rounds 1 and 5 vs 2 and 3; round 4 a tie
    table = rules.round_table(duel)
    assert [row["round"] for row in table] == [1, 2, 3, 4, 5] and table[2]["your km"] is None
    assert s["damage_dealt"]["you"] == sum(row["damage to model"] for row in table)
    assert s["winner"] is None and not duel.finished
    assert rules.hp_fraction(3000, 6000) == 0.5 and rules.hp_fraction(-5, 6000) == 0.0


def test_duel_ends_at_zero_hp_and_refuses_more_rounds():
    duel = rules.new_duel(seed=1, initial_health=1000)
    rules.play_round(duel, (0.0, 0.0), (0.0, 0.0), (0.0, 90.0))
    assert duel.finished and rules.summary(duel)["winner"] == "you"
    assert duel.ledger.health == (1000, 0)
    from geoloc.errors import GeolocError

    with pytest.raises(GeolocError, match="over"):
        rules.play_round(duel, (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))
    assert rules.round_seed(duel, 3) == 1003


@pytest.fixture
def at(tiny_bundle_dir, monkeypatch):
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    app = AppTest.from_file(str(APP_SCRIPT), default_timeout=180)
    app.run()
    assert not app.exception
    return app


def test_page_plays_a_duel_to_the_end(at):
    at.session_state["duel_game"] = rules.new_duel(seed=11, initial_health=300)
    at.radio(key="mode").set_value("Duel the model")
    at.run()
    assert not at.exception and not at.error
    # before the guess: the place and the HP bars, no model guess anywhere
    assert "Round 1 · multiplier x1" in "\n".join(m.value for m in at.markdown)
    assert [p.value for p in at.get("progress")] and not at.metric
    assert len(at.get("deck_gl_json_chart")) == 1  # the guess map only
    scene = at.session_state["duel_scene"]["scene"]
    pred = at.session_state["duel_scene"]["pred"]
    assert at.button(key="duel_submit").disabled
    at.text_input(key="duel_typed_1").input(f"{scene.lat!r}, {scene.lon!r}")
    at.run()
    at.button(key="duel_submit").click()
    at.run()
    assert not at.exception and not at.error
    played = at.session_state["duel_result"]
    model_pts = ref_points(ref_km((pred.lat, pred.lon), (scene.lat, scene.lon)))
    assert played.outcome.scores == (5000, model_pts)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["You"] == "5000 points" and metrics["Model"] == f"{model_pts} points"
    duel = at.session_state["duel_game"]
    assert duel.ledger.health == (300, max(0, 300 - (5000 - model_pts)))
    if duel.finished:  # the tiny random model is far off: 300 HP are gone in one round
        assert "You win!" in [h.value for h in at.subheader]
        table = at.dataframe[-1].value
        assert table["your points"].tolist() == [5000] and table["model points"].tolist() == [model_pts]
        at.button(key="duel_new").click()
        at.run()
        assert not at.exception and "duel_result" not in at.session_state
        assert at.session_state["duel_game"].number == 1
    else:
        at.button(key="duel_next").click()
        at.run()
        assert "Round 2" in "\n".join(m.value for m in at.markdown)
