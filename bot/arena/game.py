"""Game state and rules of the arena, independent of HTTP (the server is a thin layer over this).

A :class:`GameStore` holds every live game behind one lock, so any number of HTTP threads may
call it. Its methods take and return plain JSON-able dicts with GeoGuessr's field names
(``POST /api/v3/games``, ``GET``/``POST /api/v3/games/{token}``) and raise :class:`ArenaError`
(HTTP status, machine code, message) for anything a client can get wrong.

Rules:

* Rounds are drawn at random (without replacement while the map has enough places). Every
  round gets a fresh random ``panoId`` and a random start heading, so neither reveals the place.
* A round's clock starts when the client first sees it (``GET`` of the game, a view of the
  round, or the guess itself). With ``timeLimit > 0`` a guess later than
  ``timeLimit + grace_s`` seconds is recorded as timed out (0 points) and answered with 409.
* A guess posted with ``timedOut: true`` scores 0 (its coordinates, if valid, are kept).
* Score: ``geoloc.geo.geoguessr_score_mapsize`` (the world map, S = 14916.862 km) of the
  haversine distance; ``distanceInMeters`` = km * 1000.
* ``hide_answer``: the current round's ``lat``/``lng`` are left out of every answer until its
  guess is in (future rounds are never listed). Bounds are always the whole world.
* Games unused for ``ttl_s`` seconds expire (410 afterwards).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from bot.arena.maps import HEADINGS, ArenaMap
from geoloc.geo import geoguessr_score_mapsize, haversine_km
from geoloc.geo.mercator import MAX_LATITUDE

MAX_ROUNDS = 50
MAX_TIME_LIMIT_S = 3600
WORLD_BOUNDS = {"min": {"lat": -MAX_LATITUDE, "lng": -180.0}, "max": {"lat": MAX_LATITUDE, "lng": 180.0}}
"""Bounds reported for every map (they are scored as world maps; per-map bounds could leak a place)."""


class ArenaError(Exception):
    """A client error: ``status`` (HTTP 4xx), ``code`` (stable machine-readable string), message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict:
        return {"error": self.message, "code": self.code, "status": self.status}


@dataclass
class Guess:
    """A recorded guess (degrees; ``lat``/``lng`` None when a timeout came without a marker)."""

    lat: float | None
    lng: float | None
    score: int
    distance_m: float | None
    timed_out: bool
    time_s: float


@dataclass
class Round:
    loc_index: int
    pano_id: str
    heading: int
    started_at: float | None = None
    started_wall: str | None = None
    guess: Guess | None = None


@dataclass
class Game:
    token: str
    forbid_moving: bool
    forbid_rotating: bool
    forbid_zooming: bool
    time_limit: int
    rounds: list[Round]
    current: int = 0
    last_access: float = 0.0
    steps: list[int] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.current >= len(self.rounds)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ArenaError(400, "bad_field", f"{name} must be true or false, got {value!r}")
    return value


def _int_field(body: dict, name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value) or not lo <= value <= hi:
        raise ArenaError(400, "bad_field", f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _coordinate(body: dict, name: str, limit: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArenaError(400, "bad_coordinates", f"{name} must be a number of degrees, got {value!r}")
    if not math.isfinite(value) or abs(value) > limit:
        raise ArenaError(400, "bad_coordinates",
                         f"{name} must be a finite number of degrees in [-{limit:g}, {limit:g}], got {value!r}")
    return float(value)


class GameStore:
    """All games of one arena map. Thread-safe; ``clock`` (seconds, monotonic) is injectable for tests."""

    def __init__(self, arena_map: ArenaMap, *, hide_answer: bool = False, ttl_s: float = 3600.0,
                 grace_s: float = 2.0, clock: Callable[[], float] = time.monotonic, seed: int | None = None):
        if len(arena_map) == 0:
            raise ValueError("arena map has no locations")
        self.map = arena_map
        self.hide_answer = hide_answer
        self.ttl_s = ttl_s
        self.grace_s = grace_s
        self.clock = clock
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._games: dict[str, Game] = {}
        self._expired: set[str] = set()
        self._panos: dict[str, tuple[str, int]] = {}
        self.map_aliases = {arena_map.name, "world", "default", arena_map.name.split("-")[0]}

    # ------------------------------------------------------------------ helpers

    def _sweep(self, now: float) -> None:
        for token in [t for t, g in self._games.items() if now - g.last_access > self.ttl_s]:
            game = self._games.pop(token)
            self._expired.add(token)
            for r in game.rounds:
                self._panos.pop(r.pano_id, None)

    def _game(self, token: str) -> Game:
        now = self.clock()
        self._sweep(now)
        game = self._games.get(token)
        if game is None:
            if token in self._expired:
                raise ArenaError(410, "game_expired", f"game {token} has expired (unused for {self.ttl_s:g} s)")
            raise ArenaError(404, "unknown_game", f"no game with token {token!r}")
        game.last_access = now
        return game

    def _start_clock(self, game: Game) -> None:
        if not game.finished:
            rnd = game.rounds[game.current]
            if rnd.started_at is None:
                rnd.started_at = self.clock()
                rnd.started_wall = _now_iso()

    def _round_json(self, game: Game, i: int) -> dict:
        rnd = game.rounds[i]
        loc = self.map.locations[rnd.loc_index]
        out: dict = {"panoId": rnd.pano_id, "heading": rnd.heading, "pitch": 0, "zoom": 0,
                     "startTime": rnd.started_wall}
        if rnd.guess is not None or not self.hide_answer:
            out = {"lat": loc.lat, "lng": loc.lon, **out}
        return out

    def to_json(self, game: Game) -> dict:
        """GeoGuessr-shaped game JSON (see the module doc for what hide-answer leaves out)."""
        shown = len(game.rounds) if game.finished else game.current + 1
        guesses = []
        total = 0
        total_m = 0.0
        for rnd in game.rounds[:shown]:
            g = rnd.guess
            if g is None:
                continue
            total += g.score
            total_m += g.distance_m or 0.0
            guesses.append({
                "lat": g.lat, "lng": g.lng, "timedOut": g.timed_out,
                "roundScoreInPoints": g.score,
                "roundScore": {"amount": str(g.score), "unit": "points", "percentage": g.score / 50.0},
                "distanceInMeters": g.distance_m, "time": round(g.time_s, 3),
            })
        n = len(game.rounds)
        return {
            "token": game.token, "type": "standard", "mode": "standard",
            "state": "finished" if game.finished else "started",
            "round": n if game.finished else game.current + 1, "roundCount": n,
            "timeLimit": game.time_limit, "forbidMoving": game.forbid_moving,
            "forbidZooming": game.forbid_zooming, "forbidRotating": game.forbid_rotating,
            "map": self.map.name, "mapName": self.map.name, "bounds": WORLD_BOUNDS,
            "rounds": [self._round_json(game, i) for i in range(shown)],
            "player": {"id": "local-player", "nick": "you", "guesses": guesses,
                       "totalScore": {"amount": str(total), "unit": "points", "percentage": total / (50.0 * n)},
                       "totalDistanceInMeters": total_m, "totalStepsCount": sum(game.steps)},
            "hideAnswer": self.hide_answer,
        }

    # ------------------------------------------------------------------ API

    def create(self, body: object) -> dict:
        """``POST /api/v3/games``: validate the settings, draw the rounds, return the game JSON."""
        if not isinstance(body, dict):
            raise ArenaError(400, "bad_json", "the body must be a JSON object")
        name = body.get("map")
        if name is not None and not isinstance(name, str):
            raise ArenaError(400, "bad_field", f"map must be a string, got {name!r}")
        if name not in (None, "") and name not in self.map_aliases:
            raise ArenaError(404, "unknown_map", f"unknown map {name!r}; this arena serves {self.map.name!r}")
        flags = [_flag(body, k) for k in ("forbidMoving", "forbidRotating", "forbidZooming")]
        time_limit = _int_field(body, "timeLimit", 0, 0, MAX_TIME_LIMIT_S)
        count = _int_field(body, "roundCount", 5, 1, MAX_ROUNDS)
        with self._lock:
            n = len(self.map)
            picks = self._rng.choice(n, size=count, replace=count > n)
            rounds = [Round(int(i), secrets.token_hex(16), int(self._rng.choice(HEADINGS))) for i in picks]
            token = secrets.token_urlsafe(12)
            game = Game(token, *flags, time_limit=time_limit, rounds=rounds, last_access=self.clock())
            self._sweep(game.last_access)
            self._games[token] = game
            for i, r in enumerate(rounds):
                self._panos[r.pano_id] = (token, i)
            return self.to_json(game)

    def get(self, token: str) -> dict:
        """``GET /api/v3/games/{token}``; starts the current round's clock."""
        with self._lock:
            game = self._game(token)
            self._start_clock(game)
            return self.to_json(game)

    def guess(self, token: str, body: object) -> dict:
        """``POST /api/v3/games/{token} {token, lat, lng, timedOut, stepsCount[, roundNumber]}``."""
        if not isinstance(body, dict):
            raise ArenaError(400, "bad_json", "the body must be a JSON object")
        with self._lock:
            game = self._game(token)
            if body.get("token", token) != token:
                raise ArenaError(400, "token_mismatch", f"body token {body.get('token')!r} is not the URL's {token!r}")
            if game.finished:
                raise ArenaError(409, "game_finished", f"game {token} is finished; no round left to guess")
            number = body.get("roundNumber", body.get("round"))
            if number is not None and (isinstance(number, bool) or number != game.current + 1):
                raise ArenaError(409, "wrong_round",
                                 f"round {number!r} is not the current round {game.current + 1} "
                                 "(already guessed, or not reached yet)")
            timed_out = _flag(body, "timedOut")
            lat = _coordinate(body, "lat", 90.0)
            lng = _coordinate(body, "lng", 180.0)
            if (lat is None) != (lng is None) or (lat is None and not timed_out):
                raise ArenaError(400, "bad_coordinates", "a guess needs both lat and lng (numbers, degrees)")
            steps = _int_field(body, "stepsCount", 0, 0, 10**6)
            self._start_clock(game)
            rnd = game.rounds[game.current]
            elapsed = self.clock() - (rnd.started_at or 0.0)
            late = game.time_limit > 0 and elapsed > game.time_limit + self.grace_s and not timed_out
            if late:
                timed_out = True
            loc = self.map.locations[rnd.loc_index]
            dist_m = None if lat is None else float(haversine_km(lat, lng, loc.lat, loc.lon)) * 1000.0
            score = 0 if timed_out else int(geoguessr_score_mapsize(dist_m / 1000.0))
            rnd.guess = Guess(lat, lng, score, dist_m, timed_out, elapsed)
            game.steps.append(steps)
            game.current += 1
            if late:
                raise ArenaError(409, "round_timed_out",
                                 f"round {game.current} guess came {elapsed:.1f} s after its start, over the "
                                 f"{game.time_limit} s limit: recorded as timed out (0 points)")
            return self.to_json(game)

    def view(self, pano_id: str, heading: int) -> bytes:
        """JPEG of ``/pano/{panoId}/{heading}.jpg`` for a round that has been reached.

        With ``forbidRotating`` only the round's start heading is served until it is guessed.
        """
        with self._lock:
            entry = self._panos.get(pano_id)
            if entry is None:
                raise ArenaError(404, "unknown_pano", f"no view {pano_id!r}")
            game = self._game(entry[0])
            i = entry[1]
            if i > game.current:
                raise ArenaError(404, "unknown_pano", f"no view {pano_id!r}")
            if heading not in HEADINGS:
                raise ArenaError(404, "bad_heading", f"heading must be one of {list(HEADINGS)}, got {heading}")
            rnd = game.rounds[i]
            if game.forbid_rotating and rnd.guess is None and heading != rnd.heading:
                raise ArenaError(403, "rotation_forbidden",
                                 f"this game forbids rotating: only heading {rnd.heading} is shown")
            if i == game.current:
                self._start_clock(game)
            return self.map.locations[rnd.loc_index].view(heading)

    def answer(self, token: str, round_number: int) -> tuple[float, float]:
        """The true (lat, lon) of a round, for tests and logs on the server side (never served)."""
        with self._lock:
            rnd = self._games[token].rounds[round_number - 1]
            loc = self.map.locations[rnd.loc_index]
            return loc.lat, loc.lon

    def __len__(self) -> int:
        with self._lock:
            return len(self._games)
