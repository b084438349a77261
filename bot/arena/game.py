"""Game state and rules of the arena, independent of HTTP (the server is a thin layer over this).

A :class:`GameStore` holds every live game behind one lock, so any number of HTTP threads may
call it. Its methods take and return plain JSON-able dicts with GeoGuessr's field names
(``POST /api/v3/games``, ``GET``/``POST /api/v3/games/{token}``; country streaks
``POST /api/v3/games/streak``; duels ``/api/duels...``, rules in :mod:`bot.arena.duels`) and raise
:class:`ArenaError` (HTTP status, machine code, message) for anything a client can get wrong.

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

Country streaks (``mode: "streak"``) are standard games whose rounds are added one at a time:
the player picks a country (``streakLocationCode``, lowercase ISO alpha-2, or a point whose country
is looked up); a right pick adds a round and one to ``player.totalStreak``, a wrong one (or a
timeout) ends the game. The truth is the Natural Earth country of the place
(:func:`geoloc.geo.countries.country_codes`); only places inside a country are drawn. In
hide-answer mode ``rounds[current].streakLocationCode`` is null until the pick is in.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.arena import duels as duel_rules
from bot.arena.maps import HEADINGS, ArenaMap
from geoloc.duel import INITIAL_HEALTH, DuelLedger
from geoloc.geo import geoguessr_score_mapsize, haversine_km
from geoloc.geo.mercator import MAX_LATITUDE

MAX_ROUNDS = 50
MAX_TIME_LIMIT_S = 3600
MAX_HEALTH = 1_000_000
MAX_DUEL_ROUNDS = 1000
PLAYER_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
"""A player identity (the ``geoloc_player`` cookie): 8 to 64 URL-safe characters."""
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
    country: str | None = None  # country streaks: the pick (lowercase alpha-2)
    correct: bool | None = None  # country streaks: whether the pick was right


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
    mode: str = "standard"  # standard | streak
    streak: int = 0

    @property
    def finished(self) -> bool:
        return self.current >= len(self.rounds)

    def pano_ids(self) -> list[str]:
        return [r.pano_id for r in self.rounds]


def _now_iso(offset_s: float = 0.0) -> str:
    """ISO time (UTC, ms) now, or ``offset_s`` seconds from now."""
    t = datetime.now(UTC) + timedelta(seconds=offset_s)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def _number_field(body: dict, name: str, default: float, lo: float, hi: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise ArenaError(400, "bad_field", f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _body_dict(body: object) -> dict:
    if not isinstance(body, dict):
        raise ArenaError(400, "bad_json", "the body must be a JSON object")
    return body


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
    """All games of one arena map. Thread-safe; ``clock`` (seconds, monotonic) is injectable for tests.

    ``duel_delay_s``: default pause between the end of a duel round and the opening of the next
    (a duel may set its own, ``roundCountdownDelay``).
    """

    def __init__(self, arena_map: ArenaMap, *, hide_answer: bool = False, ttl_s: float = 3600.0,
                 grace_s: float = 2.0, clock: Callable[[], float] = time.monotonic, seed: int | None = None,
                 duel_delay_s: float = 3.0):
        if len(arena_map) == 0:
            raise ValueError("arena map has no locations")
        self.map = arena_map
        self.hide_answer = hide_answer
        self.ttl_s = ttl_s
        self.grace_s = grace_s
        self.duel_delay_s = duel_delay_s
        self.clock = clock
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._games: dict[str, Game | duel_rules.Duel] = {}
        self._expired: set[str] = set()
        self._panos: dict[str, tuple[str, int]] = {}
        self._countries: np.ndarray | None = None
        self._countries_lock = threading.Lock()  # one lookup, however many requests want it at once
        self.map_aliases = {arena_map.name, "world", "default", arena_map.name.split("-")[0]}

    # ------------------------------------------------------------------ helpers

    def location_countries(self) -> np.ndarray:
        """Country code (lowercase alpha-2, "" outside every country) of each map location, looked
        up once (Natural Earth; ~1-3 s on first use). Call it outside the lock."""
        with self._countries_lock:
            if self._countries is None:
                from geoloc.geo.countries import country_codes

                lat = [loc.lat for loc in self.map.locations]
                lon = [loc.lon for loc in self.map.locations]
                self._countries = country_codes(lat, lon)
            return self._countries

    def _place(self, loc_index: int) -> tuple[float, float, str]:
        loc = self.map.locations[loc_index]
        return loc.lat, loc.lon, str(self.location_countries()[loc_index])

    def _wall(self, t: float) -> str:
        """ISO wall time of monotonic clock time ``t``."""
        return _now_iso(t - self.clock())

    def _draw(self, used: list[int], pool: np.ndarray | None = None) -> tuple[int, str, int]:
        """(location index, fresh panoId, start heading) of a new round: a place not in ``used``
        while the map (or ``pool``) has one left."""
        candidates = np.arange(len(self.map)) if pool is None else pool
        fresh = np.setdiff1d(candidates, np.asarray(used, dtype=np.int64))
        i = int(self._rng.choice(fresh if fresh.size else candidates))
        return i, secrets.token_hex(16), int(self._rng.choice(HEADINGS))

    def _sweep(self, now: float) -> None:
        for token in [t for t, g in self._games.items() if now - g.last_access > self.ttl_s]:
            game = self._games.pop(token)
            self._expired.add(token)
            for pano in game.pano_ids():
                self._panos.pop(pano, None)

    def _lookup(self, token: str, kind: type) -> Game | duel_rules.Duel:
        now = self.clock()
        self._sweep(now)
        game = self._games.get(token)
        what = "duel" if kind is duel_rules.Duel else "game"
        if game is None or not isinstance(game, kind):
            if token in self._expired:
                raise ArenaError(410, "game_expired", f"{what} {token} has expired (unused for {self.ttl_s:g} s)")
            raise ArenaError(404, "unknown_game", f"no {what} with id {token!r}")
        game.last_access = now
        return game

    def _game(self, token: str) -> Game:
        return self._lookup(token, Game)  # type: ignore[return-value]

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
        shown = rnd.guess is not None or not self.hide_answer
        if shown:
            out = {"lat": loc.lat, "lng": loc.lon, **out}
        if game.mode == "streak":
            out["streakLocationCode"] = str(self.location_countries()[rnd.loc_index]) if shown else None
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
            entry = {
                "lat": g.lat, "lng": g.lng, "timedOut": g.timed_out,
                "roundScoreInPoints": g.score,
                "roundScore": {"amount": str(g.score), "unit": "points", "percentage": g.score / 50.0},
                "distanceInMeters": g.distance_m, "time": round(g.time_s, 3),
            }
            if game.mode == "streak":
                entry.update(streakLocationCode=g.country, isCorrect=g.correct)
            guesses.append(entry)
        n = len(game.rounds)
        out = {
            "token": game.token, "type": "standard", "mode": game.mode,
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
        if game.mode == "streak":
            out["streakType"] = "countrystreak"
            out["player"]["totalStreak"] = game.streak
        return out

    def _settings(self, body: object) -> tuple[dict, list[bool]]:
        """Validate the common settings (map, forbid flags) of a new game or duel."""
        body = _body_dict(body)
        name = body.get("map", body.get("mapSlug"))
        if name is not None and not isinstance(name, str):
            raise ArenaError(400, "bad_field", f"map must be a string, got {name!r}")
        if name not in (None, "") and name not in self.map_aliases:
            raise ArenaError(404, "unknown_map", f"unknown map {name!r}; this arena serves {self.map.name!r}")
        return body, [_flag(body, k) for k in ("forbidMoving", "forbidRotating", "forbidZooming")]

    def _register(self, game: Game | duel_rules.Duel) -> None:
        self._sweep(game.last_access)
        self._games[self._id(game)] = game
        for i, pano in enumerate(game.pano_ids()):
            self._panos[pano] = (self._id(game), i)

    @staticmethod
    def _id(game: Game | duel_rules.Duel) -> str:
        return game.token if isinstance(game, Game) else game.game_id

    # ------------------------------------------------------------------ standard games and streaks

    def mode_of(self, token: str) -> str | None:
        """``standard`` / ``streak`` for a live game token, ``duels`` for a duel, None otherwise."""
        with self._lock:
            game = self._games.get(token)
            return None if game is None else game.mode if isinstance(game, Game) else "duels"

    def create(self, body: object) -> dict:
        """``POST /api/v3/games``: validate the settings, draw the rounds, return the game JSON."""
        body, flags = self._settings(body)
        time_limit = _int_field(body, "timeLimit", 0, 0, MAX_TIME_LIMIT_S)
        count = _int_field(body, "roundCount", 5, 1, MAX_ROUNDS)
        with self._lock:
            n = len(self.map)
            picks = self._rng.choice(n, size=count, replace=count > n)
            rounds = [Round(int(i), secrets.token_hex(16), int(self._rng.choice(HEADINGS))) for i in picks]
            game = Game(secrets.token_urlsafe(12), *flags, time_limit=time_limit, rounds=rounds,
                        last_access=self.clock())
            self._register(game)
            return self.to_json(game)

    def create_streak(self, body: object) -> dict:
        """``POST /api/v3/games/streak {forbidMoving, forbidRotating, forbidZooming, streakType, timeLimit}``:
        a country streak with its first round (only places inside a country are drawn)."""
        body, flags = self._settings(body)
        kind = body.get("streakType", "CountryStreak")
        if not isinstance(kind, str) or kind.lower() != "countrystreak":
            raise ArenaError(400, "bad_field", f"streakType must be 'CountryStreak', got {kind!r}")
        time_limit = _int_field(body, "timeLimit", 0, 0, MAX_TIME_LIMIT_S)
        pool = self._streak_pool()
        with self._lock:
            loc, pano, heading = self._draw([], pool)
            game = Game(secrets.token_urlsafe(12), *flags, time_limit=time_limit, rounds=[Round(loc, pano, heading)],
                        last_access=self.clock(), mode="streak")
            self._register(game)
            return self.to_json(game)

    def _streak_pool(self) -> np.ndarray:
        pool = np.flatnonzero(self.location_countries() != "")
        if pool.size == 0:
            raise ArenaError(409, "no_countries", f"map {self.map.name!r} has no place inside a country")
        return pool

    def get(self, token: str) -> dict:
        """``GET /api/v3/games/{token}``; starts the current round's clock."""
        with self._lock:
            game = self._game(token)
            self._start_clock(game)
            return self.to_json(game)

    def guess(self, token: str, body: object) -> dict:
        """``POST /api/v3/games/{token} {token, lat, lng, timedOut, stepsCount[, roundNumber]}``; a
        streak game takes ``streakLocationCode`` (or ``lat``/``lng``, whose country is the pick)."""
        body = _body_dict(body)
        pick = None
        with self._lock:
            mode = self._game(token).mode
        if mode == "streak":
            pick = self._streak_pick(body)  # outside the lock: a point lookup may load the boundaries
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
            if (lat is None) != (lng is None) or (lat is None and not timed_out and pick is None):
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
            if game.mode == "streak":
                truth = str(self.location_countries()[rnd.loc_index])
                correct = not timed_out and pick == truth
                rnd.guess = Guess(lat, lng, 0, dist_m, timed_out, elapsed, country=pick, correct=correct)
                if correct:
                    game.streak += 1
                    i, pano, heading = self._draw([r.loc_index for r in game.rounds], self._streak_pool())
                    game.rounds.append(Round(i, pano, heading))
                    self._panos[pano] = (token, len(game.rounds) - 1)
            else:
                score = 0 if timed_out else int(geoguessr_score_mapsize(dist_m / 1000.0))
                rnd.guess = Guess(lat, lng, score, dist_m, timed_out, elapsed)
            game.steps.append(steps)
            game.current += 1
            if late:
                raise ArenaError(409, "round_timed_out",
                                 f"round {game.current} guess came {elapsed:.1f} s after its start, over the "
                                 f"{game.time_limit} s limit: recorded as timed out (0 points)")
            return self.to_json(game)

    def _streak_pick(self, body: dict) -> str | None:
        """The picked country of a streak guess: ``streakLocationCode`` (any case), else the country at
        ``lat``/``lng``; None for a timeout without a pick. 400 for unknown codes and sea points."""
        from geoloc.geo.countries import country_codes, country_names

        code = body.get("streakLocationCode")
        if code is not None:
            if not isinstance(code, str) or code.lower() not in country_names():
                raise ArenaError(400, "bad_country", f"streakLocationCode {code!r} is not a known country code "
                                                     "(lowercase ISO 3166-1 alpha-2, see /api/countries)")
            return code.lower()
        lat = _coordinate(body, "lat", 90.0)
        lng = _coordinate(body, "lng", 180.0)
        if lat is None or lng is None:
            return None
        found = str(country_codes(lat, lng)[0])
        if not found:
            raise ArenaError(400, "no_country", f"{lat:.4f}, {lng:.4f} is in no country; pick a country")
        return found

    # ------------------------------------------------------------------ duels

    def _player(self, player: str | None) -> str:
        if not player or not PLAYER_RE.match(player):
            raise ArenaError(401, "no_player", "no player identity: the geoloc_player cookie (8-64 URL-safe "
                                               "characters) is missing or malformed")
        return player

    def _duel(self, game_id: str) -> duel_rules.Duel:
        duel = self._lookup(game_id, duel_rules.Duel)
        duel_rules.settle(duel, self.clock(), self.grace_s, self._wall, lambda opens: self._duel_round(duel, opens))
        return duel  # type: ignore[return-value]

    def _duel_round(self, duel: duel_rules.Duel, opens_at: float) -> duel_rules.DuelRound:
        i, pano, heading = self._draw([r.loc_index for r in duel.rounds])
        self._panos[pano] = (duel.game_id, len(duel.rounds))
        return duel_rules.DuelRound(i, pano, heading, opens_at, self._wall(opens_at))

    def _duel_json(self, duel: duel_rules.Duel, player: str | None) -> dict:
        return duel_rules.duel_json(duel, duel.seat_of(player), self.clock(), hide_answer=self.hide_answer,
                                    grace_s=self.grace_s, place=self._place, bounds=WORLD_BOUNDS)

    def create_duel(self, body: object, player: str | None) -> dict:
        """``POST /api/duels {forbidMoving, forbidRotating, forbidZooming, roundTime, initialHealth,
        maxRounds, roundCountdownDelay, nick}``: a duel waiting for its second player."""
        body, flags = self._settings(body)
        player = self._player(player)
        round_time = _int_field(body, "roundTime", 15, 1, MAX_TIME_LIMIT_S)
        health = _int_field(body, "initialHealth", INITIAL_HEALTH, 1, MAX_HEALTH)
        max_rounds = _int_field(body, "maxRounds", 0, 0, MAX_DUEL_ROUNDS)
        delay = _number_field(body, "roundCountdownDelay", self.duel_delay_s, 0.0, 60.0)
        nick = self._nick(body, "Player 1")
        self.location_countries()  # warm the country table outside the lock (countryCode in the JSON)
        with self._lock:
            duel = duel_rules.Duel(secrets.token_urlsafe(12), *flags, round_time=round_time, delay_s=delay,
                                   ledger=DuelLedger(health, max_rounds), created_wall=_now_iso(),
                                   last_access=self.clock())
            duel.seats.append(duel_rules.DuelSeat(player, secrets.token_hex(8), nick, secrets.token_hex(8)))
            self._register(duel)
            return self._duel_json(duel, player)

    @staticmethod
    def _nick(body: dict, default: str) -> str:
        nick = body.get("nick", default)
        if not isinstance(nick, str) or not 1 <= len(nick.strip()) <= 32:
            raise ArenaError(400, "bad_field", f"nick must be 1-32 characters, got {nick!r}")
        return nick.strip()

    def join_duel(self, game_id: str, body: object, player: str | None) -> dict:
        """``POST /api/duels/{id}/join``: take the second seat; the first round opens after the delay."""
        body = _body_dict(body if body is not None else {})
        player = self._player(player)
        nick = self._nick(body, "Player 2")
        with self._lock:
            duel = self._duel(game_id)
            if duel.seat_of(player) is not None:
                raise ArenaError(409, "already_in_game", f"you are already in duel {game_id}")
            if len(duel.seats) >= 2 or duel.status != "Lobby":
                raise ArenaError(409, "duel_full", f"duel {game_id} already has two players")
            duel.seats.append(duel_rules.DuelSeat(player, secrets.token_hex(8), nick, secrets.token_hex(8)))
            duel.status = "Started"
            duel.rounds.append(self._duel_round(duel, self.clock() + duel.delay_s))
            return self._duel_json(duel, player)

    def get_duel(self, game_id: str, player: str | None = None) -> dict:
        """``GET /api/duels/{id}`` as seen by ``player`` (anyone may look; hide-answer holds for all)."""
        with self._lock:
            return self._duel_json(self._duel(game_id), player)

    def list_duels(self) -> list[dict]:
        """``GET /api/duels``: duels waiting for a second player, newest first (no round data)."""
        with self._lock:
            self._sweep(self.clock())
            open_ = [d for d in self._games.values() if isinstance(d, duel_rules.Duel) and d.status == "Lobby"]
            return [{"gameId": d.game_id, "status": d.status, "createdAt": d.created_wall,
                     "players": [{"nick": s.nick} for s in d.seats],
                     "options": {"roundTime": d.round_time, "initialHealth": d.ledger.initial_health,
                                 "maxNumberOfRounds": d.ledger.max_rounds,
                                 "movementOptions": {"forbidMoving": d.forbid_moving,
                                                     "forbidZooming": d.forbid_zooming,
                                                     "forbidRotating": d.forbid_rotating}}}
                    for d in sorted(open_, key=lambda d: d.created_wall, reverse=True)]

    def guess_duel(self, game_id: str, body: object, player: str | None) -> dict:
        """``POST /api/duels/{id}/guess {lat, lng, roundNumber}`` by a player of the duel."""
        body = _body_dict(body)
        with self._lock:
            duel = self._duel(game_id)
            seat = duel.seat_of(player)
            if seat is None:
                raise ArenaError(403, "not_in_game", f"you are not a player of duel {game_id}")
            if duel.status == "Lobby":
                raise ArenaError(409, "not_started", f"duel {game_id} waits for its second player")
            number = body.get("roundNumber")
            if isinstance(number, bool) or not isinstance(number, int):
                raise ArenaError(400, "bad_field", f"roundNumber must be an integer, got {number!r}")
            current = len(duel.rounds)
            if duel.finished or number < current or (number == current and duel.rounds[-1].ended):
                raise ArenaError(409, "round_over", f"round {number} of duel {game_id} is over")
            if number != current:
                raise ArenaError(409, "wrong_round", f"round {number} is not the current round {current}")
            rnd = duel.rounds[-1]
            now = self.clock()
            if now < rnd.opens_at:
                raise ArenaError(409, "round_not_started", f"round {number} opens in {rnd.opens_at - now:.1f} s")
            if current - 1 in duel.seats[seat].guesses:
                raise ArenaError(409, "already_guessed", f"you already guessed round {number}")
            lat = _coordinate(body, "lat", 90.0)
            lng = _coordinate(body, "lng", 180.0)
            if lat is None or lng is None:
                raise ArenaError(400, "bad_coordinates", "a guess needs both lat and lng (numbers, degrees)")
            loc = self.map.locations[rnd.loc_index]
            km = float(haversine_km(lat, lng, loc.lat, loc.lon))
            duel.seats[seat].guesses[current - 1] = duel_rules.DuelGuess(
                lat, lng, km * 1000.0, int(geoguessr_score_mapsize(km)), now - rnd.opens_at, _now_iso())
            if rnd.timer_at is None:
                rnd.timer_at, rnd.timer_wall = now, _now_iso()
            duel = self._duel(game_id)  # settles the round when both have guessed
            return self._duel_json(duel, player)

    # ------------------------------------------------------------------ views and test helpers

    def view(self, pano_id: str, heading: int) -> bytes:
        """JPEG of ``/pano/{panoId}/{heading}.jpg`` for a round that has been reached (a duel round:
        that has opened).

        With ``forbidRotating`` only the round's start heading is served until it is guessed (a duel
        round: until it has ended).
        """
        with self._lock:
            entry = self._panos.get(pano_id)
            if entry is None:
                raise ArenaError(404, "unknown_pano", f"no view {pano_id!r}")
            game = self._lookup(entry[0], object)
            i = entry[1]
            if isinstance(game, duel_rules.Duel):
                game = self._duel(entry[0])
                reached, rnd = game.round_open(i, self.clock()), game.rounds[i]
                locked = not rnd.ended
            else:
                reached, rnd = i <= game.current, game.rounds[i]
                locked = rnd.guess is None
            if not reached:
                raise ArenaError(404, "unknown_pano", f"no view {pano_id!r}")
            if heading not in HEADINGS:
                raise ArenaError(404, "bad_heading", f"heading must be one of {list(HEADINGS)}, got {heading}")
            if game.forbid_rotating and locked and heading != rnd.heading:
                raise ArenaError(403, "rotation_forbidden",
                                 f"this game forbids rotating: only heading {rnd.heading} is shown")
            if isinstance(game, Game) and i == game.current:
                self._start_clock(game)
            return self.map.locations[rnd.loc_index].view(heading)

    def answer(self, token: str, round_number: int) -> tuple[float, float]:
        """The true (lat, lon) of a round of a game or duel, for tests and logs on the server side (never served)."""
        with self._lock:
            loc = self.map.locations[self._games[token].rounds[round_number - 1].loc_index]
            return loc.lat, loc.lon

    def answer_country(self, token: str, round_number: int) -> str:
        """The true country code of a round (tests; never served before the guess)."""
        with self._lock:
            return str(self.location_countries()[self._games[token].rounds[round_number - 1].loc_index])

    def __len__(self) -> int:
        with self._lock:
            return len(self._games)
