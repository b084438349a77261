"""GeoGuessr duel rules: health, the damage multiplier of each round, damage (pure, no I/O).

The one implementation of these rules: the arena's duel server (``bot.arena``), the bot's
bookkeeping (``bot.duel``), the app's "Duel the model" (``app.duel``) and the duel benchmark use it.

Rules, recorded from a real duel (``../shared/design/FRONTENDS.md`` §1.3: the game JSON in
``pradyutnair/geoguessr-bot:geoguessr_bot/debug_game_response.json``, Dec 2025):

* Each player starts with :data:`INITIAL_HEALTH` = 6000 HP (``options.initialHealth``).
* Each round both players guess the same place and score points with the world-map formula
  ``round(5000 * exp(-10 * d_km / 14916.862))`` (:func:`geoloc.geo.geoguessr_score_mapsize`).
  A player without a guess (the countdown ran out) scores 0.
* The lower scorer loses ``(difference of the scores) x (the round's multiplier)`` HP; equal
  scores cost nobody anything. Health never goes below 0; the duel ends when a player has 0 HP.
* Multiplier (:func:`multiplier`): 1 in rounds 1-4 (``options.roundsWithoutDamageMultiplier`` = 4),
  then 0.5 more each round (``options.multiplierIncrement`` = 5 tenths): 1.5, 2, 2.5 in rounds
  5, 6, 7 -- the issue's "1 until round 4, then 1.5, 2, 2.5" and FRONTENDS.md's "from round 5 ...
  1.5, 2, 2.5" -- and on: the recorded game lists 3, 3.5, 4 for rounds 8, 9, 10, so it does not stop.

Recorded rounds (scores, then HP after): 1105 vs no guess -> 6000/4895; 4651 vs 3062 -> 6000/3306;
3010 vs 1628 -> 6000/1924; 119 vs 1009 -> 5110/1924; 4998 vs 3242 at x1.5 (2634 damage) -> 5110/0.

Not in the record (our choices, documented in docs/arena.md): damage is rounded half up to whole
HP (the one multiplied round recorded, 1756 x 1.5 = 2634, is exact); an optional round cap
(``max_rounds``, GeoGuessr's ``maxNumberOfRounds``, 0 = none) ends the duel with the higher
health winning, a draw when equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from geoloc.errors import GeolocError
from geoloc.geo.score import geoguessr_score_mapsize

INITIAL_HEALTH = 6000
"""HP of each player at the start (GeoGuessr's default ``initialHealth``)."""
ROUNDS_WITHOUT_MULTIPLIER = 4
"""Rounds played at multiplier 1 before it starts to grow."""
MULTIPLIER_STEP = 0.5
"""Growth of the multiplier per round after :data:`ROUNDS_WITHOUT_MULTIPLIER`."""


def multiplier(round_number: int) -> float:
    """Damage multiplier of round ``round_number`` (1-based): 1, 1, 1, 1, 1.5, 2, 2.5, 3, ..."""
    if isinstance(round_number, bool) or not isinstance(round_number, int) or round_number < 1:
        raise GeolocError(f"duel: round numbers start at 1, got {round_number!r}")
    return 1.0 + MULTIPLIER_STEP * max(0, round_number - ROUNDS_WITHOUT_MULTIPLIER)


def round_score(distance_km: float | None) -> int:
    """Points of one guess: the world-map GeoGuessr score of its error (km); 0 without a guess."""
    return 0 if distance_km is None else int(geoguessr_score_mapsize(distance_km))


def damage(score_a: int | None, score_b: int | None, mult: float) -> tuple[int, int]:
    """HP lost by player a and by player b in a round with these scores (None = no guess = 0 points).

    The lower scorer loses ``|score_a - score_b| * mult`` rounded half up; the other loses nothing.
    """
    a, b = int(score_a or 0), int(score_b or 0)
    if a < 0 or b < 0 or not (math.isfinite(mult) and mult > 0):
        raise GeolocError(f"duel: scores must be >= 0 and the multiplier > 0, got {a}, {b}, x{mult}")
    hit = math.floor(abs(a - b) * mult + 0.5)
    return (hit, 0) if a < b else (0, hit) if b < a else (0, 0)


@dataclass(frozen=True)
class RoundOutcome:
    """One played round: its ``number`` (1-based), ``multiplier``, both ``scores`` (None = no guess),
    the HP each player lost (``damage_taken``: the raw damage, not clamped), and both players'
    health before and after (clamped at 0)."""

    number: int
    multiplier: float
    scores: tuple[int | None, int | None]
    damage_taken: tuple[int, int]
    health_before: tuple[int, int]
    health_after: tuple[int, int]

    def damage_dealt(self, player: int) -> int:
        """Damage ``player`` (0 or 1) dealt to the other this round (GeoGuessr's ``damageDealt``)."""
        return self.damage_taken[1 - player]

    def won_by(self, player: int) -> bool:
        """Whether ``player`` scored strictly more than the other this round."""
        mine, theirs = (self.scores[player] or 0), (self.scores[1 - player] or 0)
        return mine > theirs


@dataclass
class DuelLedger:
    """Health and rounds of one duel between players 0 and 1; :meth:`play` applies a round.

    ``initial_health``: HP of each player at the start; ``max_rounds``: 0 = no cap.
    """

    initial_health: int = INITIAL_HEALTH
    max_rounds: int = 0
    rounds: list[RoundOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.initial_health < 1 or self.max_rounds < 0:
            raise GeolocError(f"duel: initial health must be >= 1 and max_rounds >= 0, got "
                              f"{self.initial_health}, {self.max_rounds}")

    @property
    def health(self) -> tuple[int, int]:
        """Current HP of players 0 and 1."""
        return self.rounds[-1].health_after if self.rounds else (self.initial_health, self.initial_health)

    @property
    def round_number(self) -> int:
        """Number (1-based) of the next round to play."""
        return len(self.rounds) + 1

    @property
    def finished(self) -> bool:
        """A player has 0 HP, or the round cap is reached."""
        return min(self.health) == 0 or (self.max_rounds > 0 and len(self.rounds) >= self.max_rounds)

    @property
    def winner(self) -> int | None:
        """0 or 1 once finished (the player with more HP); None while playing or for a draw."""
        if not self.finished or self.health[0] == self.health[1]:
            return None
        return 0 if self.health[0] > self.health[1] else 1

    def play(self, score_a: int | None, score_b: int | None) -> RoundOutcome:
        """Apply the next round's scores (None = that player did not guess) and return it."""
        if self.finished:
            raise GeolocError(f"duel: the duel is over (health {self.health}); no round {self.round_number}")
        n = self.round_number
        mult = multiplier(n)
        hit = damage(score_a, score_b, mult)
        before = self.health
        after = (max(0, before[0] - hit[0]), max(0, before[1] - hit[1]))
        out = RoundOutcome(n, mult, (score_a, score_b), hit, before, after)
        self.rounds.append(out)
        return out

    def rounds_won(self, player: int) -> int:
        """Rounds in which ``player`` outscored the other."""
        return sum(r.won_by(player) for r in self.rounds)

    def damage_dealt(self, player: int) -> int:
        """Total damage ``player`` dealt (raw, as GeoGuessr's ``damageDealt``, not clamped at 0 HP)."""
        return sum(r.damage_dealt(player) for r in self.rounds)


__all__ = ["INITIAL_HEALTH", "MULTIPLIER_STEP", "ROUNDS_WITHOUT_MULTIPLIER", "DuelLedger", "RoundOutcome", "damage",
           "multiplier", "round_score"]
