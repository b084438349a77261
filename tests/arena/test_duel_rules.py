"""geoloc.duel against the duel recorded from the real game (FRONTENDS.md §1.3: the game JSON in
pradyutnair/geoguessr-bot, geoguessr_bot/debug_game_response.json, Dec 2025) and by properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geoloc.duel import DuelLedger, damage, multiplier, round_score
from geoloc.errors import GeolocError

# The recorded game, copied from its JSON: rounds[].multiplier of rounds 1-10, and per round the
# blue team's and the red team's guess distance (m; None = no guess), score, healthAfter, damageDealt.
RECORDED_MULTIPLIERS = [1, 1, 1, 1, 1.5, 2, 2.5, 3, 3.5, 4]
BLUE = [(2251499.0801928914, 1105, 6000, 1105), (107902.5302850938, 4651, 6000, 1589),
        (757102.3467271562, 3010, 6000, 1382), (5579381.652840893, 119, 5110, 0), (728.1189565587, 4998, 5110, 2634)]
RED = [(None, 0, 4895, 0), (731699.8522677997, 3062, 3306, 0), (1673831.409460977, 1628, 1924, 0),
       (2387207.8990274104, 1009, 1924, 890), (646453.2861740559, 3242, 0, 0)]


def test_multiplier_schedule_is_the_recorded_one():
    assert [multiplier(n) for n in range(1, 11)] == RECORDED_MULTIPLIERS
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(GeolocError):
            multiplier(bad)


def test_scores_of_the_recorded_distances():
    for (m, score, _, _) in BLUE + RED:
        assert round_score(None if m is None else m / 1000.0) == score


def test_the_recorded_duel_replays_exactly():
    led = DuelLedger(6000)
    for number, (b, r) in enumerate(zip(BLUE, RED, strict=True), start=1):
        out = led.play(round_score(None if b[0] is None else b[0] / 1000), round_score(None if r[0] is None else r[0] / 1000))
        assert out.number == number and out.multiplier == RECORDED_MULTIPLIERS[number - 1]
        assert out.health_after == (b[2], r[2])
        assert (out.damage_dealt(0), out.damage_dealt(1)) == (b[3], r[3])
    assert led.finished and led.winner == 0 and led.health == (5110, 0)
    assert led.rounds_won(0) == 4 and led.rounds_won(1) == 1
    assert led.damage_dealt(0) == 1105 + 1589 + 1382 + 2634 and led.damage_dealt(1) == 890
    with pytest.raises(GeolocError, match="over"):
        led.play(5000, 0)


def test_damage_rounds_half_up_and_checks_its_input():
    assert damage(1, 0, 1.5) == (0, 2)      # 1.5 -> 2
    assert damage(0, 3, 1.5) == (5, 0)      # 4.5 -> 5
    assert damage(1756, 0, 1.5) == (0, 2634)
    assert damage(None, None, 2.0) == (0, 0)
    for bad in ((-1, 0, 1.0), (0, 0, 0.0), (0, 0, math.nan)):
        with pytest.raises(GeolocError):
            damage(*bad)


@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5000)), st.one_of(st.none(), st.integers(0, 5000))),
                min_size=1, max_size=30), st.integers(1, 20000))
def test_ledger_properties(scores, health):
    led = DuelLedger(health)
    for a, b in scores:
        if led.finished:
            break
        before = led.health
        out = led.play(a, b)
        sa, sb = a or 0, b or 0
        mult = multiplier(out.number)
        # only the lower scorer loses HP: the difference times the multiplier, half up, floored at 0 HP
        expect_a = max(0, before[0] - math.floor((sb - sa) * mult + 0.5)) if sa < sb else before[0]
        expect_b = max(0, before[1] - math.floor((sa - sb) * mult + 0.5)) if sb < sa else before[1]
        assert out.health_after == (expect_a, expect_b)
        assert min(out.damage_taken) == 0
    assert led.finished == (min(led.health) == 0)
    if led.finished:
        assert led.winner == (0 if led.health[1] == 0 else 1)


def test_round_cap_ends_with_the_higher_health_or_a_draw():
    led = DuelLedger(6000, max_rounds=2)
    led.play(5000, 4000)
    assert not led.finished
    led.play(3000, 3000)
    assert led.finished and led.winner == 0
    tie = DuelLedger(6000, max_rounds=1)
    tie.play(100, 100)
    assert tie.finished and tie.winner is None
    with pytest.raises(GeolocError):
        DuelLedger(0)
