"""Duels in the arena: state, round flow and GeoGuessr-shaped JSON (no HTTP, no lock, no clock).

:class:`~bot.arena.game.GameStore` owns the duels and calls these functions under its lock with the
current time (seconds of its monotonic clock). The HP, multiplier and damage rules are
:mod:`geoloc.duel` (one implementation, shared with the bot and the app).

Round flow:

* A duel is created by one player (status ``Lobby``) and starts when a second player joins.
  Each round opens ``delay_s`` seconds after the previous one ended (GeoGuessr's
  ``roundCountdownDelay``); before that its views are not served and guesses are refused.
* There is no clock until the first guess of a round; it starts a countdown of ``round_time``
  seconds (``options.roundTime``, shown as ``rounds[i].timerStartTime`` / ``endTime``). The round
  ends when both players have guessed or the countdown is over; a guess is still accepted
  ``grace_s`` seconds after it (network latency), a player without a guess scores 0.
* After each round the damage is applied (:class:`geoloc.duel.DuelLedger`); the duel ends when a
  player has 0 HP (or at ``maxRounds`` if set).

What the JSON shows of the current, unfinished round (every viewer): its panoId, heading and times,
whether each player has guessed, and the viewer's own guess point -- never the place
(``panorama.lat/lng/countryCode``, left out in hide-answer mode), the opponent's guess, or any
distance or score (a distance with the guess point would give the place away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from geoloc.duel import DuelLedger, RoundOutcome
from geoloc.duel import multiplier as round_multiplier

TEAM_NAMES = ("red", "blue")


@dataclass
class DuelGuess:
    """A guess (degrees), its distance (m) and points, seconds after the round opened, ISO time."""

    lat: float
    lng: float
    distance_m: float
    score: int
    time_s: float
    created: str


@dataclass
class DuelSeat:
    """One player: ``secret`` (the identity cookie, never shown), public ``player_id``, team."""

    secret: str
    player_id: str
    nick: str
    team_id: str
    guesses: dict[int, DuelGuess] = field(default_factory=dict)  # round index (0-based) -> guess


@dataclass
class DuelRound:
    """One round: its place (``loc_index``), view ids and times (monotonic s, and ISO for the JSON)."""

    loc_index: int
    pano_id: str
    heading: int
    opens_at: float
    opens_wall: str
    timer_at: float | None = None
    timer_wall: str | None = None
    end_wall: str | None = None
    outcome: RoundOutcome | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None


@dataclass
class Duel:
    """A duel's settings and state. ``rounds[-1]`` is the current round once started."""

    game_id: str
    forbid_moving: bool
    forbid_rotating: bool
    forbid_zooming: bool
    round_time: int
    delay_s: float
    ledger: DuelLedger
    seats: list[DuelSeat] = field(default_factory=list)
    rounds: list[DuelRound] = field(default_factory=list)
    status: str = "Lobby"  # Lobby | Started | Finished
    created_wall: str = ""
    last_access: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status == "Finished"

    def seat_of(self, secret: str | None) -> int | None:
        """Seat index (0/1) of the player with this identity, None for anyone else."""
        for i, seat in enumerate(self.seats):
            if secret and seat.secret == secret:
                return i
        return None

    def pano_ids(self) -> list[str]:
        return [r.pano_id for r in self.rounds]

    def round_open(self, i: int, now: float) -> bool:
        """Whether round index ``i`` exists and has opened (its views may be served)."""
        return 0 <= i < len(self.rounds) and now >= self.rounds[i].opens_at

    def deadline(self, rnd: DuelRound) -> float | None:
        """End of the countdown of ``rnd`` (monotonic s), None before the first guess."""
        return None if rnd.timer_at is None else rnd.timer_at + self.round_time


def settle(duel: Duel, now: float, grace_s: float, now_wall: Callable[[float], str],
           next_round: Callable[[float], DuelRound]) -> None:
    """End the current round if both players guessed or its countdown (plus ``grace_s``) is over,
    apply the damage, and open the next round (``next_round(opens_at)``) unless the duel is over.

    ``now_wall(t)`` turns a monotonic time into the ISO time shown in the JSON.
    """
    if duel.status != "Started" or not duel.rounds:
        return
    i = len(duel.rounds) - 1
    rnd = duel.rounds[i]
    if rnd.ended:
        return
    guessed = [i in seat.guesses for seat in duel.seats]
    deadline = duel.deadline(rnd)
    if all(guessed):
        ended_at = max(seat.guesses[i].time_s for seat in duel.seats) + rnd.opens_at
    elif deadline is not None and now > deadline + grace_s:
        ended_at = deadline + grace_s
    else:
        return
    scores = [seat.guesses[i].score if i in seat.guesses else None for seat in duel.seats]
    rnd.outcome = duel.ledger.play(scores[0], scores[1])
    rnd.end_wall = now_wall(min(ended_at, now))
    if duel.ledger.finished:
        duel.status = "Finished"
    else:
        duel.rounds.append(next_round(max(ended_at, rnd.opens_at) + duel.delay_s))


def _guess_json(number: int, g: DuelGuess, ended: bool) -> dict:
    out = {"roundNumber": number, "lat": g.lat, "lng": g.lng, "created": g.created,
           "distance": g.distance_m if ended else None, "score": g.score if ended else None,
           "isTeamsBestGuessOnRound": True}
    return out


def _round_result(duel: Duel, seat: int, i: int) -> dict:
    r = duel.rounds[i].outcome
    assert r is not None
    guess = duel.seats[seat].guesses.get(i)
    return {"roundNumber": i + 1, "score": r.scores[seat] or 0, "healthBefore": r.health_before[seat],
            "healthAfter": r.health_after[seat], "bestGuess": None if guess is None else _guess_json(i + 1, guess, True),
            "damageDealt": r.damage_dealt(seat), "multiplier": r.multiplier}


def duel_json(duel: Duel, viewer: int | None, now: float, *, hide_answer: bool, grace_s: float,
              place: Callable[[int], tuple[float, float, str]], bounds: dict) -> dict:
    """GeoGuessr-shaped duel JSON as seen by seat ``viewer`` (None: a spectator or a player not yet
    joined). ``place(loc_index)`` -> (lat, lng, countryCode) of a round's location."""
    current = len(duel.rounds) - 1
    health = duel.ledger.health
    teams = []
    for s, seat in enumerate(duel.seats):
        guesses = []
        for i in sorted(seat.guesses):
            ended = duel.rounds[i].ended
            if ended or s == viewer:
                guesses.append(_guess_json(i + 1, seat.guesses[i], ended))
        results = [_round_result(duel, s, i) for i, r in enumerate(duel.rounds) if r.ended]
        mult = round_multiplier(max(1, current + 1))
        teams.append({
            "id": seat.team_id, "name": TEAM_NAMES[s], "health": health[s],
            "players": [{"playerId": seat.player_id, "nick": seat.nick, "guesses": guesses}],
            "roundResults": results, "currentMultiplier": mult, "isMultiplierActive": mult > 1,
            "hasGuessedCurrentRound": current >= 0 and current in seat.guesses and not duel.rounds[current].ended,
        })
    rounds = []
    for i, rnd in enumerate(duel.rounds):
        pano: dict = {"panoId": rnd.pano_id, "heading": rnd.heading, "pitch": 0, "zoom": 0}
        if rnd.ended or not hide_answer:
            lat, lng, cc = place(rnd.loc_index)
            pano = {"panoId": rnd.pano_id, "lat": lat, "lng": lng, "countryCode": cc,
                    "heading": rnd.heading, "pitch": 0, "zoom": 0}
        rounds.append({"roundNumber": i + 1, "panorama": pano, "multiplier": round_multiplier(i + 1),
                       "damageMultiplier": round_multiplier(i + 1), "startTime": rnd.opens_wall,
                       "timerStartTime": rnd.timer_wall, "endTime": rnd.end_wall,
                       "hasProcessedRoundTimeout": rnd.ended})
    countdown = None
    opens_in = 0.0
    if current >= 0 and not duel.rounds[current].ended:
        rnd = duel.rounds[current]
        opens_in = max(0.0, rnd.opens_at - now)
        deadline = duel.deadline(rnd)
        if deadline is not None:
            countdown = max(0.0, deadline - now)
    result = None
    if duel.finished:
        w = duel.ledger.winner
        result = {"isDraw": w is None, "winningTeamId": None if w is None else duel.seats[w].team_id,
                  "winnerStyle": "Draw" if w is None else "Victory"}
    you = None
    if viewer is not None:
        you = {"playerId": duel.seats[viewer].player_id, "teamId": duel.seats[viewer].team_id, "seat": viewer}
    return {
        "gameId": duel.game_id, "type": "duels", "status": duel.status,
        "currentRoundNumber": max(0, current + 1), "initialHealth": duel.ledger.initial_health,
        "options": {"initialHealth": duel.ledger.initial_health, "roundTime": duel.round_time,
                    "maxNumberOfRounds": duel.ledger.max_rounds, "roundsWithoutDamageMultiplier": 4,
                    "multiplierIncrement": 5, "roundCountdownDelay": duel.delay_s, "gracePeriodTime": grace_s,
                    "movementOptions": {"forbidMoving": duel.forbid_moving, "forbidZooming": duel.forbid_zooming,
                                        "forbidRotating": duel.forbid_rotating}},
        "movementOptions": {"forbidMoving": duel.forbid_moving, "forbidZooming": duel.forbid_zooming,
                            "forbidRotating": duel.forbid_rotating},
        "mapBounds": bounds, "teams": teams, "rounds": rounds, "result": result, "you": you,
        "countdownSecondsLeft": countdown, "roundOpensInSeconds": opens_in, "createdAt": duel.created_wall,
        "hideAnswer": hide_answer,
    }


__all__ = ["TEAM_NAMES", "Duel", "DuelGuess", "DuelRound", "DuelSeat", "duel_json", "settle"]
