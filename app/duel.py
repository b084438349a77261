"""Duel the model: a person against the loaded model under GeoGuessr's duel rules (pure logic).

Both sides guess the same SynthWorld place each round; the model's guess is computed when the round
is shown but revealed only after the person's. Points, damage, the multiplier and HP come from
:mod:`geoloc.duel` (the same rules as the arena's duels and the bot's bookkeeping): player 0 is the
person, player 1 the model. A round's place is drawn with ``seed * 1000 + round`` so a duel replays
exactly from its seed. The Streamlit rendering is :mod:`app.duel_page`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geoloc.duel import INITIAL_HEALTH, DuelLedger, RoundOutcome, multiplier, round_score
from geoloc.geo import haversine_km

YOU, MODEL = 0, 1


@dataclass(frozen=True)
class DuelRound:
    """One round: the true place and both guesses (degrees), distances (km), and the ledger's outcome
    (points, multiplier, damage, HP). ``you`` is None when the person gave no guess (0 points)."""

    truth: tuple[float, float]
    you: tuple[float, float] | None
    model: tuple[float, float]
    you_km: float | None
    model_km: float
    outcome: RoundOutcome


@dataclass
class ModelDuel:
    """A duel in progress: its ``seed`` (places), the :class:`geoloc.duel.DuelLedger` and the rounds."""

    seed: int
    ledger: DuelLedger
    rounds: list[DuelRound] = field(default_factory=list)

    @property
    def number(self) -> int:
        """Number (1-based) of the round to play next."""
        return self.ledger.round_number

    @property
    def finished(self) -> bool:
        return self.ledger.finished

    @property
    def multiplier(self) -> float:
        """Multiplier of the round to play next."""
        return multiplier(self.number)


def new_duel(seed: int, initial_health: int = INITIAL_HEALTH, max_rounds: int = 0) -> ModelDuel:
    """A fresh duel (both sides at ``initial_health`` HP; ``max_rounds`` 0 = until someone has 0 HP)."""
    return ModelDuel(int(seed), DuelLedger(initial_health, max_rounds))


def round_seed(duel: ModelDuel, number: int | None = None) -> int:
    """Seed of round ``number``'s place (default: the next round)."""
    return duel.seed * 1000 + (duel.number if number is None else number)


def play_round(duel: ModelDuel, truth: tuple[float, float], you: tuple[float, float] | None,
               model: tuple[float, float]) -> DuelRound:
    """Score both guesses of the next round (world-map GeoGuessr points of the great-circle error) and
    apply the damage. ``you`` None = no guess. Raises GeolocError once the duel is over."""
    you_km = None if you is None else float(haversine_km(you[0], you[1], truth[0], truth[1]))
    model_km = float(haversine_km(model[0], model[1], truth[0], truth[1]))
    outcome = duel.ledger.play(round_score(you_km), round_score(model_km))
    rnd = DuelRound(tuple(truth), None if you is None else tuple(you), tuple(model), you_km, model_km, outcome)
    duel.rounds.append(rnd)
    return rnd


def hp_fraction(hp: int, initial: int) -> float:
    """HP as a fraction of the start, in [0, 1] (for a progress bar)."""
    return min(1.0, max(0.0, hp / initial)) if initial > 0 else 0.0


def round_table(duel: ModelDuel) -> list[dict]:
    """One row per played round: multiplier, distances (km), points, damage each side took, HP after."""
    rows = []
    for r in duel.rounds:
        o = r.outcome
        rows.append({"round": o.number, "multiplier": o.multiplier,
                     "your km": None if r.you_km is None else round(r.you_km, 1),
                     "model km": round(r.model_km, 1), "your points": o.scores[YOU] or 0,
                     "model points": o.scores[MODEL] or 0, "damage to you": o.damage_taken[YOU],
                     "damage to model": o.damage_taken[MODEL], "your HP": o.health_after[YOU],
                     "model HP": o.health_after[MODEL]})
    return rows


def summary(duel: ModelDuel) -> dict:
    """The end-of-duel summary: winner (``you`` / ``model`` / ``draw``, None while playing), rounds
    played, rounds won by each side, damage each side dealt, final HP, and each side's distance per
    round (km; None for a round without a guess)."""
    led = duel.ledger
    w = led.winner
    winner = None if not led.finished else "draw" if w is None else ("you" if w == YOU else "model")
    return {"winner": winner, "rounds": len(duel.rounds),
            "rounds_won": {"you": led.rounds_won(YOU), "model": led.rounds_won(MODEL)},
            "damage_dealt": {"you": led.damage_dealt(YOU), "model": led.damage_dealt(MODEL)},
            "health": {"you": led.health[YOU], "model": led.health[MODEL]},
            "distance_km": {"you": [r.you_km for r in duel.rounds], "model": [r.model_km for r in duel.rounds]}}


__all__ = ["MODEL", "YOU", "DuelRound", "ModelDuel", "hp_fraction", "new_duel", "play_round", "round_seed",
           "round_table", "summary"]
